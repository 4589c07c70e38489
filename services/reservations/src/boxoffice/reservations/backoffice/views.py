"""The backoffice pages: thin — read the form, call the service the JSON API calls, render.

Every POST answers with a redirect (303) to the page that shows the outcome, or with the
same page re-rendered with the problem explained (4xx) and nothing changed.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.chassis.auth import Principal, decode_token
from boxoffice.chassis.errors import ApiError, not_found
from boxoffice.reservations.api.deps import ContextDep, ReservationsContext
from boxoffice.reservations.backoffice import forms
from boxoffice.reservations.backoffice.rendering import STATIC_FILES, page, static_file
from boxoffice.reservations.backoffice.security import (
    CSRF_FIELD,
    PRESESSION_COOKIE,
    SESSION_COOKIE,
    Visitor,
    VisitorDep,
    checked_form,
    clear_cookie,
    csrf_token,
    csrf_valid,
    presession,
    set_cookie,
)
from boxoffice.reservations.models import ReservationStatus
from boxoffice.reservations.schemas import (
    ReinstateRequest,
    ReservationOut,
    UpdateReservationRequest,
    audit_entry_out,
    reservation_out,
)
from boxoffice.reservations.service import ReservationView
from boxoffice.reservations.waiting import wait_for_seats_outcome

router = APIRouter(prefix="/backoffice", include_in_schema=False)

HOME = "/backoffice/"
FINAL_STATUSES = (
    ReservationStatus.COMPLETE,
    ReservationStatus.REJECTED,
    ReservationStatus.CANCELLED,
    ReservationStatus.EXPIRED,
)
NOTICES = {
    "created": "The reservation was created; its seats are held.",
    "waiting": "The reservation was saved; inventory has not answered yet (reload).",
    "updated": "The expiration date was updated.",
    "completed": "The reservation is complete. Its tickets were not sent: send them below.",
    "cancelled": "The reservation was cancelled; its seats are released.",
    "reinstated": "The reservation was reinstated; its seats are held again.",
    "reinstate-refused": "The seats could not be held again; the reservation stays expired.",
    "sent": "The selected tickets are being emailed; see the email log.",
}
SIGN_IN_REASONS = {
    "expired": "Your session has expired or is not valid any more: sign in again.",
    "signed-out": "You are signed out.",
}


def _redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


def _safe_next(target: str) -> str:
    """Only a path of the backoffice itself (never another site) is followed after sign-in."""
    if target.startswith("/backoffice/") and not target.startswith("//") and "\\" not in target:
        return target
    return HOME


async def _or_not_found(visitor: Visitor, rendering: Awaitable[HTMLResponse]) -> HTMLResponse:
    """The page, or a "not found" page for another organization's or an unknown object."""
    try:
        return await rendering
    except ApiError as error:
        if error.status_code != 404:
            raise
        return page("not_found.html", 404, visitor=visitor, csrf=visitor.csrf)


# --- static files ---


@router.get("/static/{name}")
async def static(name: str) -> Response:
    """The backoffice's stylesheet and script."""
    if name not in STATIC_FILES:
        raise not_found("file")
    return Response(
        static_file(name),
        media_type=STATIC_FILES[name],
        headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"},
    )


# --- signing in and out ---


def _sign_in_page(
    context: ReservationsContext,
    seed: str,
    *,
    next_url: str,
    message: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        "sign_in.html",
        status_code,
        visitor=None,
        csrf=csrf_token(context, seed),
        next_url=next_url,
        message=message,
        error=error,
    )


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_form(
    request: Request,
    context: ContextDep,
    next_url: Annotated[str, Query(alias="next", max_length=2000)] = HOME,
    reason: Annotated[str, Query(max_length=50)] = "",
) -> HTMLResponse:
    """The sign-in page: paste a token (behind a gateway it is never needed)."""
    seed, new = presession(request)
    response = _sign_in_page(
        context, seed, next_url=_safe_next(next_url), message=SIGN_IN_REASONS.get(reason)
    )
    if new:
        set_cookie(request, response, PRESESSION_COOKIE, seed)
    if reason == "expired":
        clear_cookie(response, SESSION_COOKIE)
    return response


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request, context: ContextDep) -> Response:
    """Check the token and keep it in the session cookie."""
    seed, new = presession(request)
    form = await request.form(max_fields=10)
    next_url = _safe_next(str(form.get("next") or HOME))
    token = str(form.get("token") or "").strip()
    if new or not csrf_valid(context, str(form.get(CSRF_FIELD) or ""), seed):
        response = _sign_in_page(
            context,
            seed,
            next_url=next_url,
            error="The sign-in form had expired. Please sign in again.",
            status_code=403,
        )
        set_cookie(request, response, PRESESSION_COOKIE, seed)
        return response
    try:
        decode_token(
            token,
            secret=context.settings.jwt_secret_value,
            algorithm=context.settings.jwt_algorithm,
        )
    except ApiError as error:
        return _sign_in_page(
            context,
            seed,
            next_url=next_url,
            error=f"This token cannot be used: {error.message}.",
            status_code=401,
        )
    signed_in = _redirect(next_url)
    set_cookie(request, signed_in, SESSION_COOKIE, token)
    clear_cookie(signed_in, PRESESSION_COOKIE)
    return signed_in


@router.post("/sign-out")
async def sign_out(request: Request, context: ContextDep, visitor: VisitorDep) -> Response:
    """Forget the session cookie."""
    await checked_form(request, context, visitor.credential)
    response = _redirect("/backoffice/sign-in?reason=signed-out")
    clear_cookie(response, SESSION_COOKIE)
    return response


# --- events ---


@router.get("/", response_class=HTMLResponse)
async def events(context: ContextDep, visitor: VisitorDep) -> HTMLResponse:
    """The organization's events."""
    async with context.sessions() as session:
        found = await context.service.events(session, visitor.principal.org)
    local = [
        (event, event.starts_at.astimezone(_zone(event.timezone)), event.capacity)
        for event in found
    ]
    return page("events.html", visitor=visitor, csrf=visitor.csrf, events=local)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


@router.get("/events/{slug}", response_class=HTMLResponse)
async def event_page(slug: str, context: ContextDep, visitor: VisitorDep) -> HTMLResponse:
    """An event: its categories (visibility, price, max seats, held/sold/available)."""
    return await _or_not_found(visitor, _event_page(slug, context, visitor))


async def _event_page(slug: str, context: ReservationsContext, visitor: Visitor) -> HTMLResponse:
    async with context.sessions() as session:
        event, categories = await context.service.event_categories(
            session, visitor.principal.org, slug
        )
    zone = _zone(event.timezone)
    return page(
        "event.html",
        visitor=visitor,
        csrf=visitor.csrf,
        event=event,
        starts_at=event.starts_at.astimezone(zone),
        ends_at=event.ends_at.astimezone(zone),
        categories=categories,
    )


@router.get("/events/{slug}/reservations", response_class=HTMLResponse)
async def reservations(
    slug: str,
    context: ContextDep,
    visitor: VisitorDep,
    status: Annotated[str, Query(max_length=30)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """An event's reservations, newest first, filtered by status and contact."""
    return await _or_not_found(
        visitor, _reservations_page(slug, context, visitor, status, q, page_number)
    )


async def _reservations_page(
    slug: str,
    context: ReservationsContext,
    visitor: Visitor,
    status: str,
    q: str,
    page_number: int,
) -> HTMLResponse:
    chosen = ReservationStatus(status) if status in ReservationStatus.__members__ else None
    size = context.settings.page_size
    async with context.sessions() as session:
        event, found, total = await context.service.list_for_event(
            session,
            visitor.principal.org,
            slug,
            status=chosen,
            search=q or None,
            page=page_number,
            page_size=size,
        )
    base_url = context.settings.public_base_url
    return page(
        "reservations.html",
        visitor=visitor,
        csrf=visitor.csrf,
        event=event,
        items=[reservation_out(r, event, public_base_url=base_url) for r in found],
        statuses=list(ReservationStatus),
        status=chosen.value if chosen else "",
        q=q,
        page=page_number,
        pages=max(1, -(-total // size)),
        total=total,
    )


# --- creating a reservation ---


async def _create_page(
    context: ReservationsContext,
    visitor: Visitor,
    slug: str,
    form: forms.CreateForm,
    status_code: int = 200,
) -> HTMLResponse:
    async with context.sessions() as session:
        event, categories = await context.service.event_categories(
            session, visitor.principal.org, slug
        )
    return page(
        "create.html",
        status_code,
        visitor=visitor,
        csrf=visitor.csrf,
        event=event,
        categories=categories,
        form=form,
    )


@router.get("/events/{slug}/reservations/new", response_class=HTMLResponse)
async def create_form(slug: str, context: ContextDep, visitor: VisitorDep) -> HTMLResponse:
    """The Create Reservation tool: contact, then attendees per category."""
    return await _or_not_found(visitor, _create_page(context, visitor, slug, forms.CreateForm()))


@router.post("/events/{slug}/reservations/new", response_class=HTMLResponse)
async def create_submit(
    slug: str, request: Request, context: ContextDep, visitor: VisitorDep
) -> Response:
    """Change the form (rows, blocks, CSV upload) or save it: the reservation page, or why not."""
    posted = await checked_form(request, context, visitor.credential)
    form = forms.read_form(posted)
    action = str(posted.get("action") or "save")
    kind, _, target = action.partition(":")
    indexes = [int(part) for part in target.split(":") if part.isdigit()]
    if indexes and indexes[0] >= len(form.blocks):
        kind = "ignored"  # a stale or forged button: show the form as it is
    if kind == "add-block":
        form.blocks.append(forms.CategoryBlock())
        return await _create_page(context, visitor, slug, form)
    if kind == "remove-block" and indexes and len(form.blocks) > 1:
        del form.blocks[indexes[0]]
        return await _create_page(context, visitor, slug, form)
    if kind == "add-row" and indexes:
        form.blocks[indexes[0]].rows.append(forms.AttendeeRow())
        form.blocks[indexes[0]].attendees_mode = "manual"
        return await _create_page(context, visitor, slug, form)
    if kind == "remove-row" and len(indexes) == 2:
        rows = form.blocks[indexes[0]].rows
        if len(rows) > 1 and indexes[1] < len(rows):
            del rows[indexes[1]]
        return await _create_page(context, visitor, slug, form)
    if kind == "ignored":
        return await _create_page(context, visitor, slug, form)
    if kind == "upload" and indexes:
        block = form.blocks[indexes[0]]
        await forms.read_csv_upload(block, posted.get(f"items-{indexes[0]}-csv"))
        # Rows are shown with their problems; nothing is saved from an upload.
        if not form.has_errors:
            return await _create_page(context, visitor, slug, form)
        form.alert = "The CSV file has problems, shown next to its rows: correct them, then save."
        return await _create_page(context, visitor, slug, form, 422)
    return await _save(context, visitor, slug, form)


async def _save(
    context: ReservationsContext, visitor: Visitor, slug: str, form: forms.CreateForm
) -> Response:
    request = forms.validated(form, forms.request_body(form))
    if request is None:
        form.alert = "The reservation was not saved: please correct the fields marked below."
        return await _create_page(context, visitor, slug, form, 422)
    principal = visitor.principal
    try:
        try:
            async with context.sessions.begin() as session:
                created = await context.service.create_reservation(
                    session, principal, slug, request, idempotency_key=form.idempotency_key
                )
        except IntegrityError:
            # The same form sent twice at once: the other request created it.
            async with context.sessions.begin() as session:
                created = await context.service.create_reservation(
                    session, principal, slug, request, idempotency_key=form.idempotency_key
                )
    except ApiError as error:
        if error.status_code not in (409, 422):
            raise
        details = error.details if isinstance(error.details, list) else []
        forms.place_errors(
            form, [(d.get("loc", []), str(d.get("message", error.message))) for d in details]
        )
        form.alert = f"The reservation was not saved: {error.message}."
        if error.code == "IDEMPOTENCY_KEY_REUSED":
            form.alert = (
                "This form was saved already. Check it and save again to create another "
                "reservation."
            )
        form.idempotency_key = str(uuid.uuid4())
        return await _create_page(context, visitor, slug, form, error.status_code)
    await wait_for_seats_outcome(
        context.sessions,
        context.signals,
        created.reservation_id,
        within=context.settings.create_wait_seconds,
        read_after=False,  # the view below reads it
    )
    async with context.sessions() as session:
        view = await context.service.view(session, created.reservation_id, principal.org)
    out = _out(context, view)
    if out.status == ReservationStatus.REJECTED and out.refusal is not None:
        async with context.sessions() as session:
            _, categories = await context.service.event_categories(session, principal.org, slug)
        forms.explain_refusal(
            form,
            out.refusal.message or out.refusal.reason,
            out.refusal.lines,
            {str(item.category.id): item.category.name for item in categories},
        )
        form.idempotency_key = str(uuid.uuid4())
        return await _create_page(context, visitor, slug, form, 409)
    done = "waiting" if out.status == ReservationStatus.AWAITING_SEATS else "created"
    return _redirect(f"/backoffice/reservations/{out.id}?done={done}")


# --- one reservation ---


def _out(context: ReservationsContext, view: ReservationView) -> ReservationOut:
    return reservation_out(
        view.reservation, view.event, public_base_url=context.settings.public_base_url
    )


async def _reservation_page(
    context: ReservationsContext,
    visitor: Visitor,
    reservation_id: uuid.UUID,
    *,
    notice: str | None = None,
    alert: str | None = None,
    status_code: int = 200,
    template: str = "reservation.html",
) -> HTMLResponse:
    org = visitor.principal.org
    async with context.sessions() as session:
        view = await context.service.view(session, reservation_id, org)
        emails = await context.service.ticket_emails(session, reservation_id, org)
        audit = await context.service.audit_log(session, reservation_id, org)
    out = _out(context, view)
    names = {line.line_index: line.category_name for line in view.reservation.lines}
    by_category: dict[str, list[Any]] = defaultdict(list)
    for ticket, shown in zip(view.reservation.tickets, out.tickets, strict=True):
        by_category[names.get(ticket.line_index, "")].append(shown)
    zone = _zone(view.event.timezone)
    return page(
        template,
        status_code,
        visitor=visitor,
        csrf=visitor.csrf,
        r=out,
        is_final=out.status in FINAL_STATUSES,
        tickets_by_category=list(by_category.items()),
        emails=emails,
        audit=[(entry, entry.at.astimezone(zone)) for entry in map(audit_entry_out, audit)],
        expires_local=out.expires_at.strftime("%Y-%m-%dT%H:%M"),
        notice=notice,
        alert=alert,
    )


@router.get("/reservations/{reservation_id}", response_class=HTMLResponse)
async def reservation_page(
    reservation_id: uuid.UUID,
    context: ContextDep,
    visitor: VisitorDep,
    done: Annotated[str, Query(max_length=30)] = "",
) -> HTMLResponse:
    """Reservation details: status, contact, lines, tickets, link, expiry, actions, logs."""
    return await _or_not_found(
        visitor,
        _reservation_page(context, visitor, reservation_id, notice=NOTICES.get(done)),
    )


@router.get("/reservations/{reservation_id}/send-tickets", response_class=HTMLResponse)
async def send_tickets_page(
    reservation_id: uuid.UUID, context: ContextDep, visitor: VisitorDep
) -> HTMLResponse:
    """Choosing the tickets to (re)send, as a page (the dialog of the reservation page)."""
    return await _or_not_found(
        visitor,
        _reservation_page(context, visitor, reservation_id, template="send_tickets.html"),
    )


async def _transition_failed(
    context: ReservationsContext, visitor: Visitor, reservation_id: uuid.UUID, error: ApiError
) -> HTMLResponse:
    if error.status_code not in (409, 422):
        raise error
    return await _reservation_page(
        context,
        visitor,
        reservation_id,
        alert=f"Not done: {error.message}.",
        status_code=error.status_code,
    )


@router.post("/reservations/{reservation_id}/expiry", response_class=HTMLResponse)
async def update_expiry(
    reservation_id: uuid.UUID, request: Request, context: ContextDep, visitor: VisitorDep
) -> Response:
    """Move the expiration date (given in the event's time zone)."""
    posted = await checked_form(request, context, visitor.credential)
    async with context.sessions() as session:
        view = await context.service.view(session, reservation_id, visitor.principal.org)
    try:
        local = datetime.fromisoformat(str(posted.get("expires_at") or ""))
    except ValueError:
        return await _reservation_page(
            context,
            visitor,
            reservation_id,
            alert="Not done: enter the expiration date and time.",
            status_code=422,
        )
    expires_at = local.replace(tzinfo=_zone(view.event.timezone)) if local.tzinfo is None else local
    try:
        async with context.sessions.begin() as session:
            await context.service.update(
                session,
                reservation_id,
                visitor.principal,
                UpdateReservationRequest(expires_at=expires_at),
            )
    except ApiError as error:
        return await _transition_failed(context, visitor, reservation_id, error)
    return _redirect(f"/backoffice/reservations/{reservation_id}?done=updated")


Transition = Callable[[AsyncSession, uuid.UUID, Principal], Awaitable[ReservationView]]
"""A service transition taking the reservation and who asks (complete, cancel)."""


async def _transition(
    request: Request,
    context: ReservationsContext,
    visitor: Visitor,
    reservation_id: uuid.UUID,
    transition: Transition,
    done: str,
) -> Response:
    """Apply a transition from a checked form: back to the page, or the refusal shown."""
    await checked_form(request, context, visitor.credential)
    try:
        async with context.sessions.begin() as session:
            await transition(session, reservation_id, visitor.principal)
    except ApiError as error:
        return await _transition_failed(context, visitor, reservation_id, error)
    return _redirect(f"/backoffice/reservations/{reservation_id}?done={done}")


@router.post("/reservations/{reservation_id}/complete", response_class=HTMLResponse)
async def complete(
    reservation_id: uuid.UUID, request: Request, context: ContextDep, visitor: VisitorDep
) -> Response:
    """Mark as Completed (paid or free): the seats are sold; tickets are not sent."""
    return await _transition(
        request, context, visitor, reservation_id, context.service.complete, "completed"
    )


@router.post("/reservations/{reservation_id}/cancel", response_class=HTMLResponse)
async def cancel(
    reservation_id: uuid.UUID, request: Request, context: ContextDep, visitor: VisitorDep
) -> Response:
    """Cancel the reservation; its seats are released."""
    return await _transition(
        request, context, visitor, reservation_id, context.service.cancel, "cancelled"
    )


@router.post("/reservations/{reservation_id}/reinstate", response_class=HTMLResponse)
async def reinstate(
    reservation_id: uuid.UUID, request: Request, context: ContextDep, visitor: VisitorDep
) -> Response:
    """Hold the seats of an expired reservation again (new default expiry)."""
    await checked_form(request, context, visitor.credential)
    try:
        async with context.sessions.begin() as session:
            await context.service.reinstate(
                session, reservation_id, visitor.principal, ReinstateRequest()
            )
    except ApiError as error:
        return await _transition_failed(context, visitor, reservation_id, error)
    status = await wait_for_seats_outcome(
        context.sessions,
        context.signals,
        reservation_id,
        within=context.settings.create_wait_seconds,
    )
    done = (
        {
            ReservationStatus.PENDING: "reinstated",
            ReservationStatus.EXPIRED: "reinstate-refused",
        }.get(status, "waiting")
        if status is not None
        else "waiting"
    )
    return _redirect(f"/backoffice/reservations/{reservation_id}?done={done}")


@router.post("/reservations/{reservation_id}/send-tickets", response_class=HTMLResponse)
async def send_tickets(
    reservation_id: uuid.UUID, request: Request, context: ContextDep, visitor: VisitorDep
) -> Response:
    """Email the selected tickets (each to its attendee)."""
    posted = await checked_form(request, context, visitor.credential)
    try:
        ticket_ids = [uuid.UUID(str(value)) for value in posted.getlist("ticket_id")]
    except ValueError:
        ticket_ids = []
    if not ticket_ids:
        return await _reservation_page(
            context,
            visitor,
            reservation_id,
            alert="Not sent: select at least one ticket.",
            status_code=422,
        )
    try:
        async with context.sessions.begin() as session:
            await context.service.send_tickets(
                session, reservation_id, visitor.principal, ticket_ids
            )
    except ApiError as error:
        return await _transition_failed(context, visitor, reservation_id, error)
    return _redirect(f"/backoffice/reservations/{reservation_id}?done=sent")
