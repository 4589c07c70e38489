"""The contact person's page and API, authorised only by the share token in the URL.

A malformed, wrong or outdated token gets the same answer as an unknown one (404), and
every request counts against the client address's rate limit (per replica).
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request
from fastapi.responses import HTMLResponse

from boxoffice.chassis.api import SessionDep
from boxoffice.chassis.errors import ApiError, error_responses, not_found
from boxoffice.reservations.api.deps import ContextDep, ReservationsContext
from boxoffice.reservations.pages import render_page
from boxoffice.reservations.schemas import (
    AttendeeAssignment,
    ConfirmRequest,
    PublicReservationOut,
    public_reservation_out,
)
from boxoffice.reservations.service import ReservationView

router = APIRouter(tags=["public"])

_TOKEN = re.compile(r"[A-Za-z0-9_\-]{20,100}")
Token = Annotated[str, Path(max_length=200, description="The token of the share URL.")]

# The token is the only credential: never send it on as a referrer, never cache or index it.
_PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def client_address(request: Request, context: ReservationsContext) -> str:
    """The address a request is counted against (the proxy's header only when trusted)."""
    if context.settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
        if forwarded:
            return forwarded
    return request.client.host if request.client else "unknown"


async def _rate_limited(request: Request, context: ContextDep) -> None:
    retry_after = context.public_limiter.hit(client_address(request, context))
    if retry_after is not None:
        raise ApiError(
            429,
            "RATE_LIMITED",
            "too many requests from this address; retry later",
            {"retry_after_seconds": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


_LIMITED = [Depends(_rate_limited)]
_PAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "unknown, wrong or outdated token", "content": {"text/html": {}}},
    429: {"description": "rate limited (see `Retry-After`)", "content": {"text/html": {}}},
}
_UNKNOWN = "unknown, wrong or outdated token"
_READ = error_responses(404, 422, 429, e404=_UNKNOWN)
_ACTION = error_responses(404, 409, 422, 429, e404=_UNKNOWN)
_WRITE = error_responses(400, 404, 409, 422, 429, e404=_UNKNOWN)


def _checked(token: str) -> str:
    if not _TOKEN.fullmatch(token):
        raise not_found("reservation")
    return token


def _out(context: ReservationsContext, view: ReservationView) -> PublicReservationOut:
    return public_reservation_out(
        view.reservation, view.event, public_base_url=context.settings.public_base_url
    )


@router.get(
    "/v1/public/reservations/{token}",
    response_model=PublicReservationOut,
    dependencies=_LIMITED,
    responses=_READ,
)
async def public_reservation(
    token: Token, context: ContextDep, session: SessionDep
) -> PublicReservationOut:
    """The reservation, as its contact person sees it (with the payment instructions)."""
    return _out(context, await context.service.public_view(session, _checked(token)))


@router.put(
    "/v1/public/reservations/{token}/attendees",
    response_model=PublicReservationOut,
    dependencies=_LIMITED,
    responses=_WRITE,
)
async def assign_attendees(
    token: Token,
    assignments: Annotated[list[AttendeeAssignment], Body(max_length=10_000)],
    context: ContextDep,
    session: SessionDep,
) -> PublicReservationOut:
    """Name the holders of tickets: ``[{"ticket_id", "first_name", "last_name", "email"}]``."""
    view = await context.service.assign_attendees(session, _checked(token), assignments)
    return _out(context, view)


@router.post(
    "/v1/public/reservations/{token}/confirm",
    response_model=PublicReservationOut,
    dependencies=_LIMITED,
    responses=_WRITE,
)
async def confirm(
    token: Token, body: ConfirmRequest, context: ContextDep, session: SessionDep
) -> PublicReservationOut:
    """Confirm: ``free`` completes a zero total, ``bank_transfer`` awaits the money.

    Terms and privacy policy must be accepted. A bank transfer moves the expiry to the
    payment deadline (the event's ``payment_deadline_days``, never after it starts).
    """
    return _out(context, await context.service.confirm(session, _checked(token), body))


@router.post(
    "/v1/public/reservations/{token}/cancel",
    response_model=PublicReservationOut,
    dependencies=_LIMITED,
    responses=_ACTION,
)
async def cancel(token: Token, context: ContextDep, session: SessionDep) -> PublicReservationOut:
    """Give the reservation up; its seats are released."""
    return _out(context, await context.service.cancel_by_contact(session, _checked(token)))


@router.get("/r/{token}", response_class=HTMLResponse, responses=_PAGE_RESPONSES)
async def reservation_page(
    token: Token, request: Request, context: ContextDep, session: SessionDep
) -> HTMLResponse:
    """The page the share URL opens: the reservation and what its contact can do now."""
    nonce = secrets.token_urlsafe(16)
    headers = {
        **_PRIVATE_HEADERS,
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'"
        ),
    }
    retry_after = context.public_limiter.hit(client_address(request, context))
    if retry_after is not None:
        body = render_page("rate_limited.html", nonce=nonce, retry_after=retry_after)
        return HTMLResponse(body, 429, headers={**headers, "Retry-After": str(retry_after)})
    try:
        view = await context.service.public_view(session, _checked(token))
    except ApiError as error:
        if error.status_code != 404:
            raise
        return HTMLResponse(render_page("not_found.html", nonce=nonce), 404, headers=headers)
    now = context.service.now()
    body = render_page(
        "reservation.html",
        nonce=nonce,
        reservation=_out(context, view),
        token=token,
        zero_total=view.reservation.total_minor == 0,
        category_names={
            ticket.id: line.category_name
            for line in view.reservation.lines
            for ticket in view.reservation.tickets
            if ticket.line_index == line.line_index
        },
        seconds_left=max(0, int((view.reservation.expires_at - now).total_seconds())),
    )
    return HTMLResponse(body, headers=headers)
