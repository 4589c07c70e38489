"""The rules of reservations: creation, inventory's answers, transitions and expiry.

Functions here change state and queue the messages it causes in the same session; they
never commit (the HTTP dependency or the consumer that opened the session does).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from boxoffice.chassis.auth import Principal
from boxoffice.chassis.clock import utcnow
from boxoffice.chassis.db import after_commit, at_commit
from boxoffice.chassis.errors import ApiError, not_found
from boxoffice.chassis.outbox import Outbox
from boxoffice.chassis.ticket_codes import TicketCode, sign_ticket_code
from boxoffice.contracts import (
    CategoryUpserted,
    Channel,
    ConfirmSeats,
    Contact,
    CreateReservation,
    EmailFailed,
    EmailRetrying,
    EmailSent,
    Envelope,
    EventInfo,
    EventUpserted,
    HoldLine,
    HoldSeats,
    Message,
    NewCategory,
    PaymentReceived,
    RefusalReason,
    ReleaseSeats,
    ReservationCancelled,
    ReservationCompleted,
    ReservationCreated,
    ReservationExpired,
    ReservationExpiryChanged,
    ReservationOfflinePayment,
    ReservationPending,
    ReservationRejected,
    SeatsHeld,
    SeatsRefused,
    SendReservationLink,
    SendTickets,
)
from boxoffice.contracts import (
    ReservationLine as ReservationLineMessage,
)
from boxoffice.contracts import TicketEmail as TicketEmailMessage
from boxoffice.reservations import repository
from boxoffice.reservations.models import (
    OPEN_STATUSES,
    AuditEntry,
    CategoryReplica,
    EmailStatus,
    EventReplica,
    HoldPurpose,
    IdempotencyKey,
    Reservation,
    ReservationLine,
    ReservationStatus,
    Ticket,
    TicketEmail,
    TicketStatus,
)
from boxoffice.reservations.money import InvalidAmount, format_amount, to_minor
from boxoffice.reservations.schemas import (
    AttendeeAssignment,
    AttendeeIn,
    ConfirmRequest,
    CreateReservationRequest,
    PaymentMethod,
    ReinstateRequest,
    UpdateReservationRequest,
    share_url,
)

logger = logging.getLogger(__name__)

SOURCE = "boxoffice.reservations"
SYSTEM_ACTOR = "system"
CONTACT_ACTOR = "contact"
DEFAULT_PAYMENT_DEADLINE_DAYS = 5

Clock = Callable[[], datetime]


def invalid(message: str, loc: Sequence[str | int], code: str = "VALIDATION_ERROR") -> ApiError:
    """A 422 in the shape of the request validation errors."""
    return ApiError(422, code, message, [{"loc": list(loc), "message": message, "type": code}])


def status_conflict(reservation: Reservation, action: str) -> ApiError:
    """The 409 of a transition the reservation's status does not allow."""
    return ApiError(
        409,
        "INVALID_STATUS",
        f"cannot {action} a reservation that is {reservation.status}",
        {"status": reservation.status},
    )


def default_expiry(event: EventReplica, now: datetime) -> datetime:
    """The end of the following day (23:59) in the event's time zone, not after the event.

    As alf.io does for backoffice reservations; computed on the server so every client
    agrees.
    """
    zone = _zone(event.timezone)
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    end_of_tomorrow = datetime.combine(tomorrow, time(23, 59), tzinfo=zone).astimezone(UTC)
    return min(end_of_tomorrow, event.ends_at)


def payment_deadline(event: EventReplica, now: datetime) -> datetime:
    """When a bank transfer chosen ``now`` must have arrived: never after the event starts."""
    days = event.payment_deadline_days or DEFAULT_PAYMENT_DEADLINE_DAYS
    return min(now + timedelta(days=days), event.starts_at)


def share_token_hash(token: str) -> str:
    """What a share token is looked up by (its SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def request_fingerprint(slug: str, request: CreateReservationRequest) -> str:
    """What makes two create requests the same request (for idempotency keys)."""
    return hashlib.sha256(f"{slug}\n{request.model_dump_json()}".encode()).hexdigest()


@dataclass(frozen=True)
class Created:
    """The reservation a create request made, or found under its idempotency key."""

    reservation_id: uuid.UUID
    replayed: bool
    event: EventReplica


@dataclass(frozen=True)
class SkippedTicket:
    """A ticket that was not emailed, and why."""

    ticket_id: uuid.UUID
    reason: str
    message: str


@dataclass(frozen=True)
class CategoryAvailability:
    """A category of the replica and the seats a hold could take from it now."""

    category: CategoryReplica
    available: int


@dataclass(frozen=True)
class ReservationView:
    """A reservation with the replicated event it is for."""

    reservation: Reservation
    event: EventReplica


class ReservationService:
    """The reservation rules.

    Args:
        outbox: where the messages caused by a change are queued.
        clock: the source of "now".
        on_outcome: called after the commit of a change that ends the wait for seats
            (the in-process wake-up of a request waiting on that reservation).
        sweep_batch_size: how many overdue reservations one sweep expires at most.
        ticket_code_key: the key ticket codes (QR codes) are signed with.
        public_hold: how long a public-shop reservation holds its seats by default.
        share_link_grace: how long the share link of an expired or cancelled reservation
            still opens it (to show what happened); afterwards it is unknown.
    """

    def __init__(
        self,
        outbox: Outbox,
        *,
        clock: Clock = utcnow,
        on_outcome: Callable[[uuid.UUID, Reservation], None] = lambda _id, _settled: None,
        sweep_batch_size: int = 100,
        ticket_code_key: str = "",
        public_hold: timedelta = timedelta(minutes=25),
        share_link_grace: timedelta = timedelta(days=7),
    ) -> None:
        self._public_hold = public_hold
        self._share_link_grace = share_link_grace
        self._outbox = outbox
        self._ticket_code_key = ticket_code_key
        self._clock = clock
        self._on_outcome = on_outcome
        self._sweep_batch_size = sweep_batch_size

    def now(self) -> datetime:
        """The service's "now" (what expiries are measured against)."""
        return self._clock()

    # --- replica of inventory ---

    async def replicate_event(self, session: AsyncSession, event: EventUpserted) -> None:
        """Keep the newest state of an event; an older or equal version is ignored."""
        row = await repository.get_event(session, event.event_id)
        if row is not None and row.version >= event.version:
            return
        if row is None:
            row = EventReplica(id=event.event_id)
            session.add(row)
        row.organization = event.organization
        row.slug = event.slug
        row.name = event.name
        row.currency = event.currency
        row.timezone = event.timezone
        row.starts_at = event.starts_at
        row.ends_at = event.ends_at
        row.capacity = event.capacity
        row.public_reservation_limit = event.public_reservation_limit
        row.terms_url = event.terms_url
        row.privacy_policy_url = event.privacy_policy_url
        row.payment_beneficiary = event.payment_beneficiary
        row.payment_iban = event.payment_iban
        row.payment_deadline_days = event.payment_deadline_days
        row.version = event.version

    async def replicate_category(self, session: AsyncSession, category: CategoryUpserted) -> None:
        """Keep the newest state of a category; an older or equal version is ignored."""
        row = await repository.get_category(session, category.category_id)
        if row is not None and row.version >= category.version:
            return
        if row is None:
            row = CategoryReplica(id=category.category_id)
            session.add(row)
        row.event_id = category.event_id
        row.name = category.name
        row.visibility = category.visibility.value
        row.price_minor = category.price_minor
        row.max_seats = category.max_seats
        row.held = category.held
        row.sold = category.sold
        row.created_on_the_fly = category.created_on_the_fly
        row.version = category.version

    # --- creation ---

    async def create_reservation(
        self,
        session: AsyncSession,
        principal: Principal,
        slug: str,
        request: CreateReservationRequest,
        *,
        idempotency_key: str | None = None,
        reservation_id: uuid.UUID | None = None,
    ) -> Created:
        """Record a reservation awaiting its seats and ask inventory to hold them.

        One transaction: the reservation, one ticket per seat, the audit entry, the
        ``HoldSeats`` command and ``ReservationCreated``. With an idempotency key
        already used for the same request, nothing is created and its reservation is
        returned; used for another request, a 409.
        """
        event = await repository.find_event_by_slug(session, slug, principal.org)
        if event is None:
            raise not_found("event")
        fingerprint = request_fingerprint(slug, request)
        if idempotency_key is not None:
            known = await repository.get_idempotency_key(session, principal.org, idempotency_key)
            if known is not None:
                if known.request_hash != fingerprint:
                    raise ApiError(
                        409,
                        "IDEMPOTENCY_KEY_REUSED",
                        "this Idempotency-Key was used for a different request",
                    )
                return Created(known.reservation_id, replayed=True, event=event)
        reservation = await self._open(
            session,
            event,
            request,
            reservation_id=reservation_id or uuid.uuid4(),
            channel=Channel.BACKOFFICE,
            actor=principal.sub,
        )
        if idempotency_key is not None:
            await session.flush()  # the key refers to the reservation: insert it first
            session.add(
                IdempotencyKey(
                    organization=principal.org,
                    key=idempotency_key,
                    request_hash=fingerprint,
                    reservation_id=reservation.id,
                    created_at=reservation.created_at,
                )
            )
        return Created(reservation.id, replayed=False, event=event)

    async def _open(
        self,
        session: AsyncSession,
        event: EventReplica,
        request: CreateReservationRequest,
        *,
        reservation_id: uuid.UUID,
        channel: Channel,
        actor: str,
    ) -> Reservation:
        """Write a reservation awaiting its seats, its tickets, its audit entry and its hold."""
        now = self._clock()
        if request.expires_at is None and channel == Channel.PUBLIC:
            expires_at = min(now + self._public_hold, event.ends_at)
            self._checked_expiry(event, expires_at, now)
        else:
            expires_at = self._checked_expiry(event, request.expires_at, now)
        lines = await self._lines(session, event, request)
        share_token = secrets.token_urlsafe(32)
        reservation = Reservation(
            id=reservation_id,
            event_id=event.id,
            organization=event.organization,
            channel=channel.value,
            status=ReservationStatus.AWAITING_SEATS,
            hold_purpose=HoldPurpose.CREATE,
            contact_first_name=request.contact.first_name,
            contact_last_name=request.contact.last_name,
            contact_email=request.contact.email,
            contact_company=request.contact.company,
            contact_language=request.contact.language,
            currency=event.currency,
            total_minor=sum(line.unit_price_minor * line.quantity for line in lines),
            expires_at=expires_at,
            share_token=share_token,
            share_token_hash=share_token_hash(share_token),
            add_seats_if_not_available=request.add_seats_if_not_available,
            created_by=actor,
            created_at=now,
            updated_at=now,
            lines=lines,
            tickets=self._tickets(request, lines),
        )
        await repository.insert_new_reservation(session, reservation)
        self._audit(
            session,
            reservation,
            actor,
            "created",
            {
                "channel": channel.value,
                "seats": len(reservation.tickets),
                "expires_at": expires_at.isoformat(),
            },
        )
        await self._emit(
            session,
            reservation,
            self._hold_seats(reservation),
            ReservationCreated(
                reservation_id=reservation.id,
                event_id=event.id,
                channel=channel,
                contact=self._contact(reservation),
                seats=len(reservation.tickets),
            ),
        )
        return reservation

    async def _lines(
        self, session: AsyncSession, event: EventReplica, request: CreateReservationRequest
    ) -> list[ReservationLine]:
        wanted = [item.category.id for item in request.items if item.category.id is not None]
        categories = await repository.categories_by_id(session, event.id, wanted)
        lines = []
        for index, item in enumerate(request.items):
            if item.category.id is not None:
                category = categories.get(item.category.id)
                if category is None:
                    raise invalid(
                        "the event has no such category",
                        ["body", "items", index, "category", "id"],
                        "CATEGORY_NOT_FOUND",
                    )
                lines.append(
                    ReservationLine(
                        line_index=index,
                        category_id=category.id,
                        category_name=category.name,
                        new_category=False,
                        quantity=item.seats,
                        unit_price_minor=category.price_minor,
                    )
                )
                continue
            new = item.category.new
            assert new is not None  # noqa: S101 - the schema requires id or new
            try:
                price_minor = to_minor(new.price, event.currency)
            except InvalidAmount as error:
                raise invalid(
                    str(error), ["body", "items", index, "category", "new", "price"]
                ) from error
            lines.append(
                ReservationLine(
                    line_index=index,
                    category_id=None,
                    category_name=new.name,
                    new_category=True,
                    quantity=item.seats,
                    unit_price_minor=price_minor,
                )
            )
        return lines

    @staticmethod
    def _tickets(request: CreateReservationRequest, lines: list[ReservationLine]) -> list[Ticket]:
        tickets: list[Ticket] = []
        for item, line in zip(request.items, lines, strict=True):
            people: list[AttendeeIn | None] = (
                list(item.attendees) if item.attendees else [None] * item.seats
            )
            for attendee in people:
                tickets.append(
                    Ticket(
                        id=uuid.uuid4(),
                        position=len(tickets),
                        line_index=line.line_index,
                        category_id=line.category_id,
                        status=TicketStatus.PENDING,
                        first_name=attendee.first_name if attendee else None,
                        last_name=attendee.last_name if attendee else None,
                        email=attendee.email if attendee else None,
                        language=attendee.language if attendee else None,
                        reference=attendee.reference if attendee else None,
                    )
                )
        return tickets

    def _checked_expiry(
        self, event: EventReplica, requested: datetime | None, now: datetime
    ) -> datetime:
        if event.ends_at <= now:
            raise ApiError(422, "EVENT_ENDED", "the event is over")
        if requested is None:
            return default_expiry(event, now)
        requested = requested.astimezone(UTC)
        if requested <= now:
            raise invalid("expires_at must be in the future", ["body", "expires_at"])
        if requested > event.ends_at:
            raise invalid(
                "expires_at must not be after the end of the event", ["body", "expires_at"]
            )
        return requested

    # --- inventory's answers ---

    async def seats_held(self, session: AsyncSession, envelope: Envelope[SeatsHeld]) -> None:
        """Seats are held: the reservation becomes PENDING with inventory's prices.

        A hold that arrives after the reservation was cancelled or expired is given back.
        """
        held = envelope.data
        reservation = await repository.get_reservation(
            session, held.reservation_id, for_update=True
        )
        if reservation is None:
            logger.info(
                "seats held for an unknown reservation", extra={"event": str(held.event_id)}
            )
            return
        if reservation.status in (ReservationStatus.EXPIRED, ReservationStatus.CANCELLED):
            self._audit(session, reservation, SYSTEM_ACTOR, "late_hold_released", {})
            await self._emit(
                session,
                reservation,
                ReleaseSeats(
                    event_id=reservation.event_id,
                    reservation_id=reservation.id,
                    reason=f"reservation {reservation.status.lower()}",
                ),
                causation=envelope.id,
            )
            return
        if reservation.status != ReservationStatus.AWAITING_SEATS:
            return  # a repeated answer: the reservation moved on already
        by_index = {line.line_index: line for line in held.lines}
        for line in reservation.lines:
            answer = by_index.get(line.line_index)
            if answer is None:
                continue
            line.category_id = answer.category_id
            line.category_name = answer.category_name
            line.unit_price_minor = answer.unit_price_minor
        category_of_line = {line.line_index: line.category_id for line in reservation.lines}
        for ticket in reservation.tickets:
            ticket.category_id = category_of_line[ticket.line_index]
            ticket.status = TicketStatus.PENDING
        reservation.currency = held.currency
        reservation.total_minor = sum(
            line.unit_price_minor * line.quantity for line in reservation.lines
        )
        reservation.status = ReservationStatus.PENDING
        reservation.updated_at = self._clock()
        self._audit(session, reservation, SYSTEM_ACTOR, "seats_held", {})
        await self._emit(
            session,
            reservation,
            ReservationPending(
                reservation_id=reservation.id,
                event_id=reservation.event_id,
                lines=[
                    ReservationLineMessage(
                        category_id=line.category_id,
                        category_name=line.category_name,
                        quantity=line.quantity,
                        unit_price_minor=line.unit_price_minor,
                        subtotal_minor=line.unit_price_minor * line.quantity,
                    )
                    for line in reservation.lines
                    if line.category_id is not None
                ],
                total_minor=reservation.total_minor,
                currency=reservation.currency,
                expires_at=reservation.expires_at,
            ),
            causation=envelope.id,
        )
        await self._signal_outcome(session, reservation)

    async def seats_refused(self, session: AsyncSession, envelope: Envelope[SeatsRefused]) -> None:
        """Seats are refused: a new reservation is REJECTED, a reinstated one stays EXPIRED."""
        refused = envelope.data
        reservation = await repository.get_reservation(
            session, refused.reservation_id, for_update=True
        )
        if reservation is None or reservation.status != ReservationStatus.AWAITING_SEATS:
            return
        reservation.refusal_reason = refused.reason.value
        reservation.refusal_message = refused.message[:2000]
        reservation.refusal_lines = [line.model_dump(mode="json") for line in refused.lines]
        reservation.updated_at = self._clock()
        for ticket in reservation.tickets:
            ticket.status = TicketStatus.RELEASED
        details = {"reason": refused.reason.value, "message": refused.message}
        if reservation.hold_purpose == HoldPurpose.REINSTATE:
            reservation.status = ReservationStatus.EXPIRED
            self._audit(session, reservation, SYSTEM_ACTOR, "reinstate_refused", details)
        else:
            reservation.status = ReservationStatus.REJECTED
            self._audit(session, reservation, SYSTEM_ACTOR, "rejected", details)
            await self._emit(
                session,
                reservation,
                ReservationRejected(
                    reservation_id=reservation.id,
                    event_id=reservation.event_id,
                    reason=refused.reason,
                    message=refused.message,
                    lines=list(refused.lines),
                ),
                causation=envelope.id,
            )
        await self._signal_outcome(session, reservation)

    # --- reading ---

    async def view(
        self, session: AsyncSession, reservation_id: uuid.UUID, organization: str
    ) -> ReservationView:
        """A reservation of the organization, with its event (404 for another's)."""
        reservation = await self._owned(session, reservation_id, organization)
        return await self._view(session, reservation)

    async def events(self, session: AsyncSession, organization: str) -> list[EventReplica]:
        """The organization's events, as replicated from inventory."""
        return await repository.list_events(session, organization)

    async def event_categories(
        self, session: AsyncSession, organization: str, slug: str
    ) -> tuple[EventReplica, list[CategoryAvailability]]:
        """An event of the organization with all its categories and their availability.

        Availability follows inventory's rule on the replica's last known counts: a
        bounded category has ``max_seats - held - sold``; a dynamic one the unallocated
        pool (capacity minus bounded ``max_seats`` minus dynamic held + sold).
        """
        event = await repository.find_event_by_slug(session, slug, organization)
        if event is None:
            raise not_found("event")
        categories = await repository.event_categories(session, event.id)
        pool = event.capacity - sum(
            c.max_seats if c.max_seats is not None else c.held + c.sold for c in categories
        )
        return event, [
            CategoryAvailability(
                c,
                max(pool, 0) if c.max_seats is None else max(c.max_seats - c.held - c.sold, 0),
            )
            for c in categories
        ]

    async def list_for_event(
        self,
        session: AsyncSession,
        organization: str,
        slug: str,
        *,
        status: ReservationStatus | None,
        search: str | None,
        page: int,
        page_size: int,
    ) -> tuple[EventReplica, list[Reservation], int]:
        """One page of an event's reservations, with the event and the total count."""
        event = await repository.find_event_by_slug(session, slug, organization)
        if event is None:
            raise not_found("event")
        reservations, total = await repository.list_reservations(
            session,
            event.id,
            status=status,
            search=search.strip() if search else None,
            offset=(page - 1) * page_size,
            limit=page_size,
        )
        return event, reservations, total

    async def audit_log(
        self, session: AsyncSession, reservation_id: uuid.UUID, organization: str
    ) -> list[AuditEntry]:
        """Who did what to a reservation, oldest first."""
        await self._owned(session, reservation_id, organization)
        return await repository.audit_entries(session, reservation_id)

    # --- changes by the organizer ---

    async def update(
        self,
        session: AsyncSession,
        reservation_id: uuid.UUID,
        principal: Principal,
        request: UpdateReservationRequest,
    ) -> ReservationView:
        """Change the expiry and/or the contact of a reservation that is not final."""
        reservation = await self._owned(session, reservation_id, principal.org, for_update=True)
        if reservation.status not in OPEN_STATUSES:
            raise status_conflict(reservation, "update")
        view = await self._view(session, reservation)
        changed: dict[str, Any] = {}
        if request.expires_at is not None:
            expires_at = self._checked_expiry(view.event, request.expires_at, self._clock())
            if expires_at != reservation.expires_at:
                reservation.expires_at = expires_at
                changed["expires_at"] = expires_at.isoformat()
                await self._emit(
                    session,
                    reservation,
                    ReservationExpiryChanged(
                        reservation_id=reservation.id,
                        event_id=reservation.event_id,
                        expires_at=expires_at,
                    ),
                )
        if request.contact is not None:
            for field, value in request.contact.model_dump(exclude_unset=True).items():
                if value is None and field in ("first_name", "last_name", "email"):
                    raise invalid(f"contact {field} cannot be removed", ["body", "contact", field])
                attribute = f"contact_{field}"
                if getattr(reservation, attribute) != value:
                    setattr(reservation, attribute, value)
                    changed[f"contact.{field}"] = True
        if changed:
            reservation.updated_at = self._clock()
            self._audit(session, reservation, principal.sub, "updated", {"changed": changed})
        return view

    async def complete(
        self, session: AsyncSession, reservation_id: uuid.UUID, principal: Principal
    ) -> ReservationView:
        """Mark a PENDING (or offline-paid) reservation completed: its seats are sold."""
        reservation = await self._owned(session, reservation_id, principal.org, for_update=True)
        if reservation.status not in (
            ReservationStatus.PENDING,
            ReservationStatus.OFFLINE_PAYMENT,
        ):
            raise status_conflict(reservation, "complete")
        if reservation.status == ReservationStatus.OFFLINE_PAYMENT:
            self._audit(
                session,
                reservation,
                principal.sub,
                "payment_received",
                {
                    "method": PaymentMethod.BANK_TRANSFER.value,
                    "amount": format_amount(reservation.total_minor, reservation.currency),
                    "currency": reservation.currency,
                },
            )
        await self._mark_complete(session, reservation, principal.sub)
        return await self._view(session, reservation)

    async def cancel(
        self, session: AsyncSession, reservation_id: uuid.UUID, principal: Principal
    ) -> ReservationView:
        """Cancel a reservation that is not final: its seats are released."""
        reservation = await self._owned(session, reservation_id, principal.org, for_update=True)
        if reservation.status not in OPEN_STATUSES:
            raise status_conflict(reservation, "cancel")
        await self._mark_cancelled(session, reservation, principal.sub)
        return await self._view(session, reservation)

    async def _mark_cancelled(
        self, session: AsyncSession, reservation: Reservation, actor: str
    ) -> None:
        reservation.status = ReservationStatus.CANCELLED
        reservation.updated_at = self._clock()
        for ticket in reservation.tickets:
            ticket.status = TicketStatus.RELEASED
        self._audit(session, reservation, actor, "cancelled", {})
        await self._emit(
            session,
            reservation,
            ReleaseSeats(
                event_id=reservation.event_id, reservation_id=reservation.id, reason="cancelled"
            ),
            ReservationCancelled(
                reservation_id=reservation.id, event_id=reservation.event_id, cancelled_by=actor
            ),
        )
        await self._signal_outcome(session, reservation)

    # --- the contact person, authorised by the share token ---

    async def public_view(self, session: AsyncSession, token: str) -> ReservationView:
        """The reservation behind a share token (404 for an unknown token)."""
        return await self._view(session, await self._by_token(session, token))

    async def assign_attendees(
        self, session: AsyncSession, token: str, assignments: Sequence[AttendeeAssignment]
    ) -> ReservationView:
        """The contact names the holders of tickets (while pending, or once complete)."""
        reservation = await self._by_token(session, token, for_update=True)
        if reservation.status not in (
            ReservationStatus.PENDING,
            ReservationStatus.OFFLINE_PAYMENT,
            ReservationStatus.COMPLETE,
        ):
            raise status_conflict(reservation, "assign the tickets of")
        tickets = {ticket.id: ticket for ticket in reservation.tickets}
        for index, assignment in enumerate(assignments):
            if assignment.ticket_id not in tickets:
                raise invalid("no such ticket in this reservation", ["body", index, "ticket_id"])
        for assignment in assignments:
            ticket = tickets[assignment.ticket_id]
            ticket.first_name = assignment.first_name
            ticket.last_name = assignment.last_name
            ticket.email = assignment.email
        reservation.updated_at = self._clock()
        self._audit(
            session,
            reservation,
            CONTACT_ACTOR,
            "attendees_assigned",
            {"tickets": [str(assignment.ticket_id) for assignment in assignments]},
        )
        return await self._view(session, reservation)

    async def confirm(
        self, session: AsyncSession, token: str, request: ConfirmRequest
    ) -> ReservationView:
        """The contact confirms: a zero total completes, a bank transfer awaits the money."""
        reservation = await self._by_token(session, token, for_update=True)
        if reservation.status != ReservationStatus.PENDING:
            raise status_conflict(reservation, "confirm")
        if not (request.accept_terms and request.accept_privacy_policy):
            raise invalid(
                "the terms and the privacy policy must be accepted", ["body", "accept_terms"]
            )
        if request.payment_method == PaymentMethod.FREE:
            if reservation.total_minor != 0:
                raise invalid(
                    "only a reservation with a zero total is free", ["body", "payment_method"]
                )
            await self._mark_complete(
                session, reservation, CONTACT_ACTOR, details={"payment_method": "free"}
            )
        else:
            if reservation.total_minor == 0:
                raise invalid(
                    "a reservation with a zero total is confirmed as free",
                    ["body", "payment_method"],
                )
            now = self._clock()
            event = (await self._view(session, reservation)).event
            deadline = payment_deadline(event, now)
            if deadline <= now:
                raise ApiError(
                    409,
                    "PAYMENT_DEADLINE_PASSED",
                    "the event has started: a bank transfer can no longer arrive in time",
                    {"status": reservation.status},
                )
            reservation.status = ReservationStatus.OFFLINE_PAYMENT
            reservation.updated_at = now
            if deadline != reservation.expires_at:
                reservation.expires_at = deadline
                await self._emit(
                    session,
                    reservation,
                    ReservationExpiryChanged(
                        reservation_id=reservation.id,
                        event_id=reservation.event_id,
                        expires_at=deadline,
                    ),
                )
            self._audit(
                session,
                reservation,
                CONTACT_ACTOR,
                "offline_payment_chosen",
                {
                    "payment_method": request.payment_method.value,
                    "expires_at": reservation.expires_at.isoformat(),
                },
            )
            await self._emit(
                session,
                reservation,
                ReservationOfflinePayment(
                    reservation_id=reservation.id,
                    event_id=reservation.event_id,
                    total_minor=reservation.total_minor,
                    currency=reservation.currency,
                    expires_at=reservation.expires_at,
                ),
            )
        return await self._view(session, reservation)

    async def cancel_by_contact(self, session: AsyncSession, token: str) -> ReservationView:
        """The contact gives the reservation up while it is not final."""
        reservation = await self._by_token(session, token, for_update=True)
        if reservation.status not in OPEN_STATUSES:
            raise status_conflict(reservation, "cancel")
        await self._mark_cancelled(session, reservation, CONTACT_ACTOR)
        return await self._view(session, reservation)

    async def _by_token(
        self, session: AsyncSession, token: str, *, for_update: bool = False
    ) -> Reservation:
        reservation = await repository.get_reservation_by_token_hash(
            session, share_token_hash(token), for_update=for_update
        )
        # The lookup compared hashes; the secret itself is compared in constant time.
        if reservation is None or not hmac.compare_digest(
            reservation.share_token.encode(), token.encode()
        ):
            raise not_found("reservation")
        if reservation.status == ReservationStatus.REJECTED or (
            reservation.status in (ReservationStatus.EXPIRED, ReservationStatus.CANCELLED)
            and self._clock() > reservation.updated_at + self._share_link_grace
        ):
            # The same answer as a wrong token: the link has nothing left to show.
            raise not_found("reservation")
        return reservation

    async def reinstate(
        self,
        session: AsyncSession,
        reservation_id: uuid.UUID,
        principal: Principal,
        request: ReinstateRequest,
    ) -> None:
        """Ask again for the seats of an EXPIRED reservation (same lines, new expiry)."""
        reservation = await self._owned(session, reservation_id, principal.org, for_update=True)
        if reservation.status != ReservationStatus.EXPIRED:
            raise status_conflict(reservation, "reinstate")
        view = await self._view(session, reservation)
        now = self._clock()
        reservation.expires_at = self._checked_expiry(view.event, request.expires_at, now)
        reservation.status = ReservationStatus.AWAITING_SEATS
        reservation.hold_purpose = HoldPurpose.REINSTATE
        reservation.refusal_reason = None
        reservation.refusal_message = None
        reservation.refusal_lines = None
        reservation.updated_at = now
        for ticket in reservation.tickets:
            ticket.status = TicketStatus.PENDING
        self._audit(
            session,
            reservation,
            principal.sub,
            "reinstate_requested",
            {"expires_at": reservation.expires_at.isoformat()},
        )
        await self._emit(session, reservation, self._hold_seats(reservation))

    async def _mark_complete(
        self,
        session: AsyncSession,
        reservation: Reservation,
        actor: str,
        *,
        causation: uuid.UUID | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        reservation.status = ReservationStatus.COMPLETE
        reservation.updated_at = self._clock()
        for ticket in reservation.tickets:
            ticket.status = TicketStatus.ACQUIRED
        self._audit(session, reservation, actor, "completed", details or {})
        await self._emit(
            session,
            reservation,
            ConfirmSeats(event_id=reservation.event_id, reservation_id=reservation.id),
            ReservationCompleted(
                reservation_id=reservation.id,
                event_id=reservation.event_id,
                total_minor=reservation.total_minor,
                currency=reservation.currency,
                completed_by=actor,
            ),
            causation=causation,
        )

    async def send_link(
        self,
        session: AsyncSession,
        reservation_id: uuid.UUID,
        principal: Principal,
        public_base_url: str,
    ) -> uuid.UUID:
        """Email the contact the share URL of a reservation that awaits them.

        Returns the id of the queued email (notifications keeps its delivery log).
        """
        reservation = await self._owned(session, reservation_id, principal.org, for_update=True)
        if reservation.status not in (
            ReservationStatus.PENDING,
            ReservationStatus.OFFLINE_PAYMENT,
        ):
            raise status_conflict(reservation, "send the link of")
        event = (await self._view(session, reservation)).event
        email_id = uuid.uuid4()
        self._audit(
            session,
            reservation,
            principal.sub,
            "link_sent",
            {"email_id": str(email_id), "to": "contact"},
        )
        await self._emit(
            session,
            reservation,
            SendReservationLink(
                reservation_id=reservation.id,
                email_id=email_id,
                event=self._event_info(event),
                contact=self._contact(reservation),
                share_url=share_url(public_base_url, reservation.share_token),
                expires_at=reservation.expires_at,
                total_minor=reservation.total_minor,
                currency=reservation.currency,
            ),
        )
        return email_id

    # --- messages from other systems ---

    async def create_from_command(
        self, session: AsyncSession, envelope: Envelope[CreateReservation]
    ) -> None:
        """Create a reservation asked by another system (``reservations.commands``).

        The caller chose the reservation id, so a repeated command changes nothing. A
        command that cannot be served is answered with ``ReservationRejected``; the
        seat rules of its channel are inventory's, which answers the hold.
        """
        command = envelope.data
        if await repository.get_reservation(session, command.reservation_id) is not None:
            return
        event = await repository.find_event_by_slug(session, command.event_slug, None)
        if event is None:
            await self._reject_command(
                session, envelope, None, RefusalReason.EVENT_NOT_FOUND, "no such event"
            )
            return
        try:
            request = _request_of_command(command, event.currency)
            await self._open(
                session,
                event,
                request,
                reservation_id=command.reservation_id,
                channel=command.channel,
                actor=envelope.source,
            )
        except ApiError as error:
            reason = (
                RefusalReason.CATEGORY_NOT_FOUND
                if error.code == "CATEGORY_NOT_FOUND"
                else RefusalReason.INVALID_REQUEST
            )
            await self._reject_command(session, envelope, event.id, reason, error.message)
        except ValidationError as error:
            await self._reject_command(
                session, envelope, event.id, RefusalReason.INVALID_REQUEST, str(error)[:2000]
            )

    async def _reject_command(
        self,
        session: AsyncSession,
        envelope: Envelope[CreateReservation],
        event_id: uuid.UUID | None,
        reason: RefusalReason,
        message: str,
    ) -> None:
        reservation_id = envelope.data.reservation_id
        await self._outbox.add(
            session,
            Envelope.wrap(
                ReservationRejected(
                    reservation_id=reservation_id,
                    # The contract requires an event id; the nil UUID says "no such event".
                    event_id=event_id or uuid.UUID(int=0),
                    reason=reason,
                    message=message,
                ),
                source=SOURCE,
                subject=str(reservation_id),
                correlationid=str(reservation_id),
                causationid=envelope.id,
            ),
        )

    async def payment_received(
        self, session: AsyncSession, envelope: Envelope[PaymentReceived]
    ) -> None:
        """A payment completes a PENDING or OFFLINE_PAYMENT reservation it matches.

        Amount and currency must equal the reservation's total: a short, excess,
        foreign-currency or late payment completes nothing and is written to the audit
        log (``payment_mismatch`` / ``payment_not_applied``) for the organizer to settle.
        """
        payment = envelope.data
        reservation = await repository.get_reservation(
            session, payment.reservation_id, for_update=True
        )
        if reservation is None:
            logger.info("payment for an unknown reservation")
            return
        details: dict[str, Any] = {
            "payment_id": payment.payment_id,
            "amount": format_amount(payment.amount_minor, payment.currency),
            "currency": payment.currency,
            "method": payment.method,
        }
        actor = f"payment:{payment.payment_id}"
        if reservation.status not in (
            ReservationStatus.PENDING,
            ReservationStatus.OFFLINE_PAYMENT,
        ):
            details["status"] = reservation.status
            self._audit(session, reservation, actor, "payment_not_applied", details)
            return
        if (
            payment.currency != reservation.currency
            or payment.amount_minor != reservation.total_minor
        ):
            self._audit(session, reservation, actor, "payment_mismatch", details)
            return
        await self._mark_complete(
            session, reservation, actor, causation=envelope.id, details=details
        )

    # --- expiry ---

    async def expire_overdue(self, session: AsyncSession) -> list[uuid.UUID]:
        """Expire open reservations past their expiry and release their seats.

        The only place a reservation expires; safe to run in several replicas at once.
        """
        overdue = await repository.lock_overdue_reservations(
            session, self._clock(), self._sweep_batch_size
        )
        for reservation in overdue:
            reservation.status = ReservationStatus.EXPIRED
            reservation.updated_at = self._clock()
            for ticket in reservation.tickets:
                ticket.status = TicketStatus.RELEASED
            self._audit(session, reservation, SYSTEM_ACTOR, "expired", {})
            await self._emit(
                session,
                reservation,
                ReleaseSeats(
                    event_id=reservation.event_id, reservation_id=reservation.id, reason="expired"
                ),
                ReservationExpired(reservation_id=reservation.id, event_id=reservation.event_id),
            )
            await self._signal_outcome(session, reservation)
        return [reservation.id for reservation in overdue]

    # --- ticket emails ---

    async def send_tickets(
        self,
        session: AsyncSession,
        reservation_id: uuid.UUID,
        principal: Principal,
        ticket_ids: Sequence[uuid.UUID] | None,
    ) -> tuple[list[TicketEmail], list[SkippedTicket]]:
        """Queue one email per assigned ticket of a COMPLETE reservation (all by default).

        Unassigned tickets (no name or email yet) and ids of other reservations are
        skipped with the reason. A ticket may be sent again: each send is a new email.
        """
        reservation = await self._owned(session, reservation_id, principal.org, for_update=True)
        if reservation.status != ReservationStatus.COMPLETE:
            raise status_conflict(reservation, "send the tickets of")
        event = (await self._view(session, reservation)).event
        tickets = {ticket.id: ticket for ticket in reservation.tickets}
        wanted = list(dict.fromkeys(ticket_ids)) if ticket_ids is not None else list(tickets)
        category_names = {line.line_index: line.category_name for line in reservation.lines}
        now = self._clock()
        emails: list[TicketEmail] = []
        messages: list[TicketEmailMessage] = []
        skipped: list[SkippedTicket] = []
        for ticket_id in wanted:
            ticket = tickets.get(ticket_id)
            if ticket is None:
                skipped.append(
                    SkippedTicket(
                        ticket_id, "NOT_IN_RESERVATION", "no such ticket in this reservation"
                    )
                )
                continue
            if not ticket.assigned or ticket.email is None:
                skipped.append(
                    SkippedTicket(
                        ticket_id, "UNASSIGNED", "the ticket has no attendee name and email yet"
                    )
                )
                continue
            email = TicketEmail(
                id=uuid.uuid4(),
                reservation_id=reservation.id,
                ticket_id=ticket.id,
                to=ticket.email,
                status=EmailStatus.QUEUED,
                attempts=0,
                requested_by=principal.sub,
                created_at=now,
                updated_at=now,
            )
            emails.append(email)
            messages.append(
                TicketEmailMessage(
                    email_id=email.id,
                    ticket_id=ticket.id,
                    ticket_code=sign_ticket_code(
                        self._ticket_code_key, TicketCode(ticket.id, reservation.id, event.id)
                    ),
                    category_name=category_names.get(ticket.line_index, ""),
                    attendee_first_name=ticket.first_name or "",
                    attendee_last_name=ticket.last_name or "",
                    attendee_email=ticket.email,
                    language=ticket.language or reservation.contact_language,
                )
            )
        if emails:
            session.add_all(emails)
            self._audit(
                session,
                reservation,
                principal.sub,
                "tickets_sent",
                {"tickets": [str(email.ticket_id) for email in emails]},
            )
            await self._emit(
                session,
                reservation,
                SendTickets(
                    reservation_id=reservation.id,
                    event=self._event_info(event),
                    requested_by=principal.sub,
                    tickets=messages,
                ),
            )
        return emails, skipped

    async def ticket_emails(
        self, session: AsyncSession, reservation_id: uuid.UUID, organization: str
    ) -> list[TicketEmail]:
        """The ticket emails of a reservation and how their delivery went."""
        await self._owned(session, reservation_id, organization)
        return await repository.ticket_emails(session, reservation_id)

    async def email_progress(
        self, session: AsyncSession, report: EmailSent | EmailRetrying | EmailFailed
    ) -> None:
        """Record what notifications reports about a ticket email.

        Emails reservations did not queue (e.g. the reservation link) are ignored; a
        report older than the recorded state never undoes it.
        """
        email = await repository.get_ticket_email(session, report.email_id, for_update=True)
        if email is None or email.attempts > report.attempts:
            return
        if email.status in (EmailStatus.SENT, EmailStatus.FAILED) and isinstance(
            report, EmailRetrying
        ):
            return
        match report:
            case EmailSent():
                email.status = EmailStatus.SENT
                email.last_error = None
            case EmailRetrying():
                email.status = EmailStatus.SENDING
                email.last_error = report.last_error[:2000]
            case EmailFailed():
                if email.status == EmailStatus.SENT:
                    return
                email.status = EmailStatus.FAILED
                email.last_error = report.last_error[:2000]
        email.attempts = report.attempts
        email.updated_at = self._clock()

    # --- helpers ---

    async def _owned(
        self,
        session: AsyncSession,
        reservation_id: uuid.UUID,
        organization: str,
        *,
        for_update: bool = False,
    ) -> Reservation:
        reservation = await repository.get_reservation(
            session, reservation_id, for_update=for_update
        )
        if reservation is None or reservation.organization != organization:
            raise not_found("reservation")
        return reservation

    @staticmethod
    async def _view(session: AsyncSession, reservation: Reservation) -> ReservationView:
        event = await repository.get_event(session, reservation.event_id)
        if event is None:  # the replica never deletes events
            raise not_found("event")
        return ReservationView(reservation, event)

    @staticmethod
    def _event_info(event: EventReplica) -> EventInfo:
        return EventInfo(
            event_id=event.id,
            slug=event.slug,
            name=event.name,
            timezone=event.timezone,
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            organization=event.organization,
        )

    @staticmethod
    def _contact(reservation: Reservation) -> Contact:
        return Contact(
            first_name=reservation.contact_first_name,
            last_name=reservation.contact_last_name,
            email=reservation.contact_email,
            company=reservation.contact_company,
            language=reservation.contact_language,
        )

    @staticmethod
    def _hold_seats(reservation: Reservation) -> HoldSeats:
        lines = [
            HoldLine(category_id=line.category_id, quantity=line.quantity)
            if line.category_id is not None
            else HoldLine(
                new_category=NewCategory(
                    name=line.category_name, price_minor=line.unit_price_minor
                ),
                quantity=line.quantity,
            )
            for line in reservation.lines
        ]
        return HoldSeats(
            event_id=reservation.event_id,
            reservation_id=reservation.id,
            channel=Channel(reservation.channel),
            add_seats_if_not_available=reservation.add_seats_if_not_available,
            lines=lines,
        )

    def _audit(
        self,
        session: AsyncSession,
        reservation: Reservation,
        actor: str,
        action: str,
        details: dict[str, Any],
    ) -> None:
        # Written at commit, all of a transaction's entries in one INSERT (a consumer
        # batch audits every reservation it moves).
        entries = at_commit(session, _AUDIT_ENTRIES, _write_audit_entries, list, order=-1)
        entries.append(
            {
                "reservation_id": reservation.id,
                "at": self._clock(),
                "actor": actor,
                "action": action,
                "details": details,
            }
        )

    async def _emit(
        self,
        session: AsyncSession,
        reservation: Reservation,
        *messages: Message,
        causation: uuid.UUID | None = None,
    ) -> None:
        await self._outbox.add(
            session,
            *(
                Envelope.wrap(
                    message,
                    source=SOURCE,
                    subject=str(reservation.id),
                    correlationid=str(reservation.id),
                    causationid=causation,
                )
                for message in messages
            ),
        )

    async def _signal_outcome(self, session: AsyncSession, reservation: Reservation) -> None:
        """Wake requests waiting on the reservation once this transaction commits.

        In this process directly, handing over the committed reservation; in the other
        replicas through the database (PostgreSQL NOTIFY, delivered on commit), where
        they listen.
        """
        after_commit(session, lambda: self._on_outcome(reservation.id, reservation))
        repository.notify_outcomes(session, [reservation.id])


_AUDIT_ENTRIES = "reservations_audit_entries"
_AUDIT_TABLE = cast("Table", AuditEntry.__table__)
_INSERT_AUDIT_ENTRIES = insert(_AUDIT_TABLE)


def _write_audit_entries(session: Session, entries: list[dict[str, Any]]) -> None:
    session.flush()  # the reservations they refer to go first
    session.execute(_INSERT_AUDIT_ENTRIES, entries)


def _request_of_command(command: CreateReservation, currency: str) -> CreateReservationRequest:
    """The HTTP request a ``CreateReservation`` command amounts to (same validation)."""
    items: list[dict[str, Any]] = []
    for item in command.items:
        category: dict[str, Any] = (
            {"id": item.category_id}
            if item.category_id is not None
            else {
                "new": {
                    "name": item.new_category.name,
                    "price": format_amount(item.new_category.price_minor, currency),
                }
            }
            if item.new_category is not None
            else {}
        )
        seats: dict[str, Any] = (
            {"attendees": [attendee.model_dump() for attendee in item.attendees]}
            if item.attendees is not None
            else {"empty_seats": item.empty_seats}
        )
        items.append({"category": category, **seats})
    return CreateReservationRequest.model_validate(
        {
            "contact": command.contact.model_dump(),
            "items": items,
            "expires_at": command.expires_at,
            "add_seats_if_not_available": command.add_seats_if_not_available,
        }
    )
