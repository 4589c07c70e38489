"""HTTP request and response models of the reservations API."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from boxoffice.contracts import EmailAddress
from boxoffice.reservations.models import (
    AuditEntry,
    EventReplica,
    Reservation,
    ReservationStatus,
    Ticket,
)
from boxoffice.reservations.money import format_amount

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Language = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=20)]

MAX_SEATS_PER_ITEM = 10_000
"""Input sanity only (a typo of 1000000 seats), not a business limit on reservations."""


class Request(BaseModel):
    """Base of request bodies: unknown fields are refused, so a typo is not ignored."""

    model_config = ConfigDict(extra="forbid")


class ContactIn(Request):
    """The contact person: who pays and receives the reservation link."""

    first_name: Name
    last_name: Name
    email: EmailAddress
    company: OptionalText | None = None
    language: Language | None = None


class ContactPatch(Request):
    """Fields of the contact to change; the others are kept."""

    first_name: Name | None = None
    last_name: Name | None = None
    email: EmailAddress | None = None
    company: OptionalText | None = None
    language: Language | None = None


class AttendeeIn(Request):
    """The holder of one ticket; without an email the ticket stays unassigned."""

    first_name: Name
    last_name: Name
    email: EmailAddress | None = None
    language: Language | None = None
    reference: OptionalText | None = None


class NewCategoryIn(Request):
    """A hidden category created on the fly for this line."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    price: Decimal = Field(description='Unit price in the event currency, e.g. "0.00".')


class CategoryChoice(Request):
    """An existing category of the event (``id``) or a new one (``new``), exactly one."""

    id: uuid.UUID | None = None
    new: NewCategoryIn | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.id is None) == (self.new is None):
            raise ValueError("give exactly one of id and new")
        return self


class ItemIn(Request):
    """Seats in one category: named attendees or a number of empty seats, exactly one."""

    category: CategoryChoice
    attendees: Annotated[list[AttendeeIn], Field(min_length=1, max_length=MAX_SEATS_PER_ITEM)] | (
        None
    ) = None
    empty_seats: Annotated[int, Field(ge=1, le=MAX_SEATS_PER_ITEM)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.attendees is None) == (self.empty_seats is None):
            raise ValueError("give exactly one of attendees and empty_seats")
        return self

    @property
    def seats(self) -> int:
        """How many seats the item asks for."""
        return len(self.attendees) if self.attendees is not None else self.empty_seats or 0


class CreateReservationRequest(Request):
    """Body of ``POST /v1/events/{slug}/reservations``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "contact": {
                        "first_name": "Ada",
                        "last_name": "Lovelace",
                        "email": "ada@example.org",
                    },
                    "items": [
                        {
                            "category": {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6"},
                            "attendees": [
                                {
                                    "first_name": "Ada",
                                    "last_name": "Lovelace",
                                    "email": "ada@example.org",
                                }
                            ],
                        },
                        {"category": {"new": {"name": "Press", "price": "0.00"}}, "empty_seats": 2},
                    ],
                }
            ]
        }
    )

    contact: ContactIn
    items: Annotated[list[ItemIn], Field(min_length=1, max_length=100)]
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="Default: the end of the following day (23:59) in the event's time zone.",
    )
    add_seats_if_not_available: bool = False


class UpdateReservationRequest(Request):
    """Body of ``PATCH /v1/reservations/{id}``."""

    expires_at: AwareDatetime | None = None
    contact: ContactPatch | None = None


class SendTicketsRequest(Request):
    """Body of ``POST /v1/reservations/{id}/send-tickets``: omitted ``ticket_ids`` = all."""

    ticket_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=10_000)] | None = None


class AttendeeAssignment(Request):
    """The holder of one ticket, named by the contact person."""

    ticket_id: uuid.UUID
    first_name: Name
    last_name: Name
    email: EmailAddress


class PaymentMethod(StrEnum):
    """How the contact person completes: nothing to pay, or a bank transfer."""

    FREE = "free"
    BANK_TRANSFER = "bank_transfer"


class ConfirmRequest(Request):
    """Body of ``POST /v1/public/reservations/{token}/confirm``."""

    payment_method: PaymentMethod
    accept_terms: bool
    accept_privacy_policy: bool


class ReinstateRequest(Request):
    """Body of ``POST /v1/reservations/{id}/reinstate``."""

    expires_at: AwareDatetime | None = None


# --- responses ---


class EventOut(BaseModel):
    """The event a reservation is for, as replicated from inventory."""

    id: uuid.UUID
    slug: str
    name: str
    timezone: str
    starts_at: datetime
    ends_at: datetime


class ContactOut(BaseModel):
    """The contact person."""

    first_name: str
    last_name: str
    email: str
    company: str | None
    language: str | None


class LineOut(BaseModel):
    """Seats of one category; ``category_id`` is null until a new category is created."""

    category_id: uuid.UUID | None
    category_name: str
    unit_price: str
    quantity: int
    subtotal: str


class TicketOut(BaseModel):
    """One seat; ``assigned`` when it names its holder (name and email)."""

    id: uuid.UUID
    category_id: uuid.UUID | None
    status: str
    first_name: str | None
    last_name: str | None
    email: str | None
    language: str | None
    reference: str | None
    assigned: bool


class RefusedLineOut(BaseModel):
    """A line inventory could not serve: how many seats were asked and available."""

    line_index: int
    category_id: uuid.UUID | None
    category_name: str | None
    asked: int
    available: int


class RefusalOut(BaseModel):
    """Why the seats were refused."""

    reason: str
    message: str
    lines: list[RefusedLineOut]


class ReservationOut(BaseModel):
    """A reservation, with times shown in the event's time zone."""

    id: uuid.UUID
    code: str = Field(description="Short reservation code, the reference of a bank transfer.")
    status: str
    event: EventOut
    contact: ContactOut
    lines: list[LineOut]
    total: str
    currency: str
    expires_at: datetime
    share_url: str
    tickets: list[TicketOut]
    add_seats_if_not_available: bool
    refusal: RefusalOut | None
    created_at: datetime
    updated_at: datetime


class PaymentInstructionsOut(BaseModel):
    """How to pay by bank transfer, and by when."""

    beneficiary: str | None
    iban: str | None
    reference: str = Field(description="The reservation code, to quote with the transfer.")
    amount: str
    currency: str
    due: datetime = Field(description="The reservation expires if no payment arrives by then.")


class PublicReservationOut(ReservationOut):
    """A reservation as its contact person sees it, with the event's policies."""

    terms_url: str | None
    privacy_policy_url: str | None
    payment_instructions: PaymentInstructionsOut | None = Field(
        description="Set while the reservation awaits a bank transfer."
    )


class LinkSentOut(BaseModel):
    """The reservation link was queued for the contact person."""

    email_id: uuid.UUID = Field(description="The id of the email in notifications.")
    to: str
    share_url: str


class ReservationPage(BaseModel):
    """One page of reservations, newest first."""

    items: list[ReservationOut]
    page: int
    page_size: int
    total: int


class AuditEntryOut(BaseModel):
    """One audit entry: who (``actor``) did what (``action``), when."""

    at: datetime
    actor: str
    action: str
    details: dict[str, Any]


class QueuedEmailOut(BaseModel):
    """A ticket email handed over to notifications."""

    email_id: uuid.UUID
    ticket_id: uuid.UUID
    to: str


class SkippedTicketOut(BaseModel):
    """A ticket not emailed, and why (``UNASSIGNED``, ``NOT_IN_RESERVATION``)."""

    ticket_id: uuid.UUID
    reason: str
    message: str


class SendTicketsResult(BaseModel):
    """Which tickets were queued for email and which were skipped."""

    queued: list[QueuedEmailOut]
    skipped: list[SkippedTicketOut]


class EmailOut(BaseModel):
    """Delivery of one ticket email."""

    id: uuid.UUID
    ticket_id: uuid.UUID
    to: str
    status: str
    attempts: int
    last_error: str | None


class CsvAttendeeOut(BaseModel):
    """An attendee read from the CSV, in the shape of the create request's attendees."""

    first_name: str
    last_name: str
    email: str | None
    language: str | None
    reference: str | None


class CsvErrorOut(BaseModel):
    """A problem in one field of one row (``row`` = line number in the file)."""

    row: int
    field: str | None
    message: str


class AttendeesCsvOut(BaseModel):
    """Valid attendees and the errors of the other rows; nothing is stored."""

    attendees: list[CsvAttendeeOut]
    errors: list[CsvErrorOut]


def reservation_code(reservation_id: uuid.UUID) -> str:
    """The short code a contact quotes, e.g. as the reference of a bank transfer."""
    return reservation_id.hex[:8].upper()


def share_url(public_base_url: str, token: str) -> str:
    """The link the contact person opens: ``<public base URL>/r/<token>``."""
    return f"{public_base_url.rstrip('/')}/r/{token}"


def _local(moment: datetime, timezone: str) -> datetime:
    try:
        return moment.astimezone(ZoneInfo(timezone))
    except (KeyError, ValueError):
        return moment


def ticket_out(ticket: Ticket) -> TicketOut:
    """The API shape of a ticket."""
    return TicketOut(
        id=ticket.id,
        category_id=ticket.category_id,
        status=ticket.status,
        first_name=ticket.first_name,
        last_name=ticket.last_name,
        email=ticket.email,
        language=ticket.language,
        reference=ticket.reference,
        assigned=ticket.assigned,
    )


def reservation_out(
    reservation: Reservation, event: EventReplica, *, public_base_url: str
) -> ReservationOut:
    """The API shape of a reservation (lines and tickets must be loaded)."""
    currency = reservation.currency
    tz = event.timezone
    refusal = None
    if reservation.refusal_reason is not None:
        refusal = RefusalOut(
            reason=reservation.refusal_reason,
            message=reservation.refusal_message or "",
            lines=[RefusedLineOut.model_validate(line) for line in reservation.refusal_lines or []],
        )
    return ReservationOut(
        id=reservation.id,
        code=reservation_code(reservation.id),
        status=reservation.status,
        event=EventOut(
            id=event.id,
            slug=event.slug,
            name=event.name,
            timezone=tz,
            starts_at=_local(event.starts_at, tz),
            ends_at=_local(event.ends_at, tz),
        ),
        contact=ContactOut(
            first_name=reservation.contact_first_name,
            last_name=reservation.contact_last_name,
            email=reservation.contact_email,
            company=reservation.contact_company,
            language=reservation.contact_language,
        ),
        lines=[
            LineOut(
                category_id=line.category_id,
                category_name=line.category_name,
                unit_price=format_amount(line.unit_price_minor, currency),
                quantity=line.quantity,
                subtotal=format_amount(line.unit_price_minor * line.quantity, currency),
            )
            for line in reservation.lines
        ],
        total=format_amount(reservation.total_minor, currency),
        currency=currency,
        expires_at=_local(reservation.expires_at, tz),
        share_url=share_url(public_base_url, reservation.share_token),
        tickets=[ticket_out(ticket) for ticket in reservation.tickets],
        add_seats_if_not_available=reservation.add_seats_if_not_available,
        refusal=refusal,
        created_at=_local(reservation.created_at, tz),
        updated_at=_local(reservation.updated_at, tz),
    )


def public_reservation_out(
    reservation: Reservation, event: EventReplica, *, public_base_url: str
) -> PublicReservationOut:
    """The contact person's shape of a reservation: policies and payment instructions."""
    out = reservation_out(reservation, event, public_base_url=public_base_url)
    instructions = None
    if reservation.status == ReservationStatus.OFFLINE_PAYMENT:
        instructions = PaymentInstructionsOut(
            beneficiary=event.payment_beneficiary,
            iban=event.payment_iban,
            reference=out.code,
            amount=out.total,
            currency=out.currency,
            due=out.expires_at,
        )
    return PublicReservationOut(
        **out.model_dump(),
        terms_url=event.terms_url,
        privacy_policy_url=event.privacy_policy_url,
        payment_instructions=instructions,
    )


def audit_entry_out(entry: AuditEntry) -> AuditEntryOut:
    """The API shape of an audit entry (UTC)."""
    return AuditEntryOut(at=entry.at, actor=entry.actor, action=entry.action, details=entry.details)
