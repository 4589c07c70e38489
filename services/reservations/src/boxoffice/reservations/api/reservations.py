"""Backoffice endpoints of reservations: thin — parse, authorise, call the service, shape."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Annotated, Any

import sqlalchemy
from fastapi import APIRouter, Header, Query
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError

from boxoffice.chassis.api import SessionDep
from boxoffice.chassis.auth import CurrentPrincipal, Principal
from boxoffice.chassis.errors import error_response, error_responses
from boxoffice.reservations.api.deps import ContextDep, ReservationsContext
from boxoffice.reservations.models import ReservationStatus
from boxoffice.reservations.schemas import (
    AuditEntryOut,
    CreateReservationRequest,
    EmailOut,
    LinkSentOut,
    QueuedEmailOut,
    ReinstateRequest,
    ReservationOut,
    ReservationPage,
    SendTicketsRequest,
    SendTicketsResult,
    SkippedTicketOut,
    UpdateReservationRequest,
    audit_entry_out,
    reservation_out,
    share_url,
)
from boxoffice.reservations.service import Created, ReservationView
from boxoffice.reservations.waiting import Watch, wait_for_seats_outcome

router = APIRouter(prefix="/v1", tags=["reservations"])

_HOLD_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": ReservationOut, "description": "inventory has not answered yet: poll GET"},
    **error_responses(
        400,
        401,
        404,
        409,
        422,
        e409="the seats were refused (code = reason, details = lines), or the reservation "
        "is not in a state that allows it",
    ),
}
_READ = error_responses(401, 404, 422)
_ACTION = error_responses(401, 404, 409, 422)
_WRITE = error_responses(400, 401, 404, 409, 422)

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=200,
        description="A retried request with the same key answers the first one's reservation.",
    ),
]


def _out(context: ReservationsContext, view: ReservationView) -> ReservationOut:
    return reservation_out(
        view.reservation, view.event, public_base_url=context.settings.public_base_url
    )


async def _answer_after_hold(
    context: ReservationsContext,
    reservation_id: uuid.UUID,
    principal: Principal,
    *,
    success_status: int,
) -> Response:
    """Wait (bounded) for inventory's answer, then answer 2xx, 409 or 202."""
    await wait_for_seats_outcome(
        context.sessions,
        context.signals,
        reservation_id,
        within=context.settings.create_wait_seconds,
        read_after=False,  # the view below reads it
    )
    async with context.sessions() as session:
        view = await context.service.view(session, reservation_id, principal.org)
    return _answer(context, view, success_status=success_status)


async def _answer_when_settled(
    context: ReservationsContext, watch: Watch, created: Created, principal: Principal
) -> Response:
    """:func:`_answer_after_hold` for a reservation watched since before its commit.

    Nothing is read before the wait (no answer can have been missed), and when this
    process's consumer settled it, the answer is written from the reservation it
    committed, without reading it again.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(context.settings.create_wait_seconds):
            await watch.wait()
    settled = watch.settled
    if settled is not None and not _CHILDREN & sqlalchemy.inspect(settled).unloaded:
        return _answer(context, ReservationView(settled, created.event), success_status=201)
    async with context.sessions() as session:
        view = await context.service.view(session, created.reservation_id, principal.org)
    return _answer(context, view, success_status=201)


_CHILDREN = frozenset({"lines", "tickets"})


def _answer(
    context: ReservationsContext, view: ReservationView, *, success_status: int
) -> Response:
    """2xx with the reservation, 409 with the refusal, or 202 while it awaits its seats."""
    body = _out(context, view)
    status = view.reservation.status
    if status == ReservationStatus.AWAITING_SEATS:
        return _json(body, 202, headers={"Location": f"/v1/reservations/{body.id}"})
    if body.refusal is not None and status in (
        ReservationStatus.REJECTED,
        ReservationStatus.EXPIRED,
    ):
        payload = body.model_dump(mode="json")
        return error_response(
            409,
            body.refusal.reason,
            body.refusal.message or "the seats could not be held",
            {
                "reservation_id": str(body.id),
                "status": status,
                "reason": body.refusal.reason,
                "lines": [line.model_dump(mode="json") for line in body.refusal.lines],
                "reservation": payload,
            },
        )
    return _json(body, success_status)


def _json(body: ReservationOut, status: int, headers: dict[str, str] | None = None) -> Response:
    # Serialized by pydantic straight to JSON bytes (no dict, no json.dumps).
    return Response(
        body.model_dump_json(), status_code=status, headers=headers, media_type="application/json"
    )


@router.post(
    "/events/{slug}/reservations",
    status_code=201,
    response_model=ReservationOut,
    responses=_HOLD_RESPONSES,
    summary="Create a reservation and wait briefly for its seats",
)
async def create_reservation(
    slug: str,
    body: CreateReservationRequest,
    principal: CurrentPrincipal,
    context: ContextDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Reserve seats from the backoffice: 201 PENDING, 409 refused, 202 still waiting."""
    reservation_id = uuid.uuid4()
    with context.signals.watch(reservation_id) as watch:
        try:
            async with context.sessions.begin() as session:
                created = await context.service.create_reservation(
                    session,
                    principal,
                    slug,
                    body,
                    idempotency_key=idempotency_key,
                    reservation_id=reservation_id,
                )
        except IntegrityError:
            if idempotency_key is None:
                raise
            # A concurrent request with the same key committed first: answer with its result.
            async with context.sessions.begin() as session:
                created = await context.service.create_reservation(
                    session, principal, slug, body, idempotency_key=idempotency_key
                )
        if not created.replayed:
            return await _answer_when_settled(context, watch, created, principal)
    # An earlier request's reservation: its answer may have come already.
    return await _answer_after_hold(context, created.reservation_id, principal, success_status=201)


@router.get("/events/{slug}/reservations", response_model=ReservationPage, responses=_READ)
async def list_reservations(
    slug: str,
    principal: CurrentPrincipal,
    context: ContextDep,
    session: SessionDep,
    status: ReservationStatus | None = None,
    q: Annotated[str | None, Query(max_length=200, description="contact name or email")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int | None, Query(ge=1, le=500)] = None,
) -> ReservationPage:
    """An event's reservations, newest first, filtered by status and contact."""
    size = page_size or context.settings.page_size
    event, reservations, total = await context.service.list_for_event(
        session, principal.org, slug, status=status, search=q, page=page, page_size=size
    )
    return ReservationPage(
        items=[
            reservation_out(r, event, public_base_url=context.settings.public_base_url)
            for r in reservations
        ],
        page=page,
        page_size=size,
        total=total,
    )


@router.get("/reservations/{reservation_id}", response_model=ReservationOut, responses=_READ)
async def get_reservation(
    reservation_id: uuid.UUID, principal: CurrentPrincipal, context: ContextDep, session: SessionDep
) -> ReservationOut:
    """One reservation."""
    return _out(context, await context.service.view(session, reservation_id, principal.org))


@router.patch("/reservations/{reservation_id}", response_model=ReservationOut, responses=_WRITE)
async def update_reservation(
    reservation_id: uuid.UUID,
    body: UpdateReservationRequest,
    principal: CurrentPrincipal,
    context: ContextDep,
    session: SessionDep,
) -> ReservationOut:
    """Change the expiry and/or the contact while the reservation is not final."""
    view = await context.service.update(session, reservation_id, principal, body)
    return _out(context, view)


@router.post(
    "/reservations/{reservation_id}/complete", response_model=ReservationOut, responses=_ACTION
)
async def complete_reservation(
    reservation_id: uuid.UUID, principal: CurrentPrincipal, context: ContextDep, session: SessionDep
) -> ReservationOut:
    """Mark completed (paid or free): PENDING or OFFLINE_PAYMENT → COMPLETE."""
    return _out(context, await context.service.complete(session, reservation_id, principal))


@router.post(
    "/reservations/{reservation_id}/send-link", response_model=LinkSentOut, responses=_ACTION
)
async def send_reservation_link(
    reservation_id: uuid.UUID, principal: CurrentPrincipal, context: ContextDep, session: SessionDep
) -> LinkSentOut:
    """Email the share URL to the contact of a PENDING or OFFLINE_PAYMENT reservation."""
    base_url = context.settings.public_base_url
    email_id = await context.service.send_link(session, reservation_id, principal, base_url)
    view = await context.service.view(session, reservation_id, principal.org)
    return LinkSentOut(
        email_id=email_id,
        to=view.reservation.contact_email,
        share_url=share_url(base_url, view.reservation.share_token),
    )


@router.post(
    "/reservations/{reservation_id}/cancel", response_model=ReservationOut, responses=_ACTION
)
async def cancel_reservation(
    reservation_id: uuid.UUID, principal: CurrentPrincipal, context: ContextDep, session: SessionDep
) -> ReservationOut:
    """Cancel a reservation that is not final; its seats are released."""
    return _out(context, await context.service.cancel(session, reservation_id, principal))


@router.post(
    "/reservations/{reservation_id}/reinstate",
    response_model=ReservationOut,
    responses=_HOLD_RESPONSES,
)
async def reinstate_reservation(
    reservation_id: uuid.UUID,
    principal: CurrentPrincipal,
    context: ContextDep,
    body: ReinstateRequest | None = None,
) -> Response:
    """Hold the seats of an EXPIRED reservation again: 200 PENDING, 409 refused, 202."""
    async with context.sessions.begin() as session:
        await context.service.reinstate(
            session, reservation_id, principal, body or ReinstateRequest()
        )
    return await _answer_after_hold(context, reservation_id, principal, success_status=200)


@router.get(
    "/reservations/{reservation_id}/audit", response_model=list[AuditEntryOut], responses=_READ
)
async def reservation_audit(
    reservation_id: uuid.UUID, principal: CurrentPrincipal, context: ContextDep, session: SessionDep
) -> list[AuditEntryOut]:
    """Who did what to the reservation, oldest first."""
    entries = await context.service.audit_log(session, reservation_id, principal.org)
    return [audit_entry_out(entry) for entry in entries]


@router.post(
    "/reservations/{reservation_id}/send-tickets",
    response_model=SendTicketsResult,
    responses=_WRITE,
)
async def send_tickets(
    reservation_id: uuid.UUID,
    principal: CurrentPrincipal,
    context: ContextDep,
    session: SessionDep,
    body: SendTicketsRequest | None = None,
) -> SendTicketsResult:
    """Email the assigned tickets of a COMPLETE reservation (all, or ``ticket_ids``)."""
    emails, skipped = await context.service.send_tickets(
        session, reservation_id, principal, body.ticket_ids if body else None
    )
    return SendTicketsResult(
        queued=[
            QueuedEmailOut(email_id=email.id, ticket_id=email.ticket_id, to=email.to)
            for email in emails
        ],
        skipped=[
            SkippedTicketOut(ticket_id=item.ticket_id, reason=item.reason, message=item.message)
            for item in skipped
        ],
    )


@router.get("/reservations/{reservation_id}/emails", response_model=list[EmailOut], responses=_READ)
async def ticket_emails(
    reservation_id: uuid.UUID, principal: CurrentPrincipal, context: ContextDep, session: SessionDep
) -> list[EmailOut]:
    """The ticket emails of the reservation and their delivery status."""
    emails = await context.service.ticket_emails(session, reservation_id, principal.org)
    return [
        EmailOut(
            id=email.id,
            ticket_id=email.ticket_id,
            to=email.to,
            status=email.status,
            attempts=email.attempts,
            last_error=email.last_error,
        )
        for email in emails
    ]
