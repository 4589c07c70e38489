"""Messages of the reservations topics, keyed by reservation id."""

from typing import Annotated, Self
from uuid import UUID

from pydantic import AwareDatetime, Discriminator, Field, Tag, model_validator

from boxoffice.contracts.common import (
    Attendee,
    CategoryRef,
    Channel,
    Contact,
    CurrencyCode,
    MinorAmount,
    Quantity,
    Value,
)
from boxoffice.contracts.envelope import Envelope, ReservationKeyed, envelope_type
from boxoffice.contracts.inventory import RefusalReason, RefusedLine
from boxoffice.contracts.topics import Topic

# --- reservations.commands ---


class ReservationItem(CategoryRef):
    """Tickets asked in one category.

    Exactly one of category_id and new_category gives the category, and exactly one of
    attendees and empty_seats the seats.
    """

    attendees: Annotated[list[Attendee], Field(min_length=1)] | None = None
    empty_seats: Quantity | None = None

    @model_validator(mode="after")
    def _exactly_one_occupancy(self) -> Self:
        if (self.attendees is None) == (self.empty_seats is None):
            raise ValueError("exactly one of attendees and empty_seats is required")
        return self

    @property
    def seats(self) -> int:
        """Number of seats the item asks for."""
        return len(self.attendees) if self.attendees is not None else self.empty_seats or 0


class CreateReservation(ReservationKeyed):
    """Reserve tickets for an event.

    The caller chooses ``reservation_id``, which makes the command idempotent.
    """

    message_type = "boxoffice.reservations.CreateReservation.v1"
    topic = Topic.RESERVATIONS_COMMANDS

    event_slug: str
    channel: Channel
    contact: Contact
    items: Annotated[list[ReservationItem], Field(min_length=1)]
    expires_at: AwareDatetime | None = None
    add_seats_if_not_available: bool = False


ReservationCommand = Annotated[
    Annotated[Envelope[CreateReservation], Tag(CreateReservation.message_type)],
    Discriminator(envelope_type),
]
"""Any envelope of ``reservations.commands``, discriminated by its ``type``."""

# --- reservations.events ---


class ReservationLine(Value):
    """Seats of one category in a reservation, with their price."""

    category_id: UUID
    category_name: str
    quantity: Quantity
    unit_price_minor: MinorAmount
    subtotal_minor: MinorAmount


class ReservationCreated(ReservationKeyed):
    """A reservation was accepted for processing; its seats are not held yet."""

    message_type = "boxoffice.reservations.ReservationCreated.v1"
    topic = Topic.RESERVATIONS_EVENTS

    event_id: UUID
    channel: Channel
    contact: Contact
    seats: Quantity


class ReservationPending(ReservationKeyed):
    """The seats are held until ``expires_at``, awaiting payment or confirmation."""

    message_type = "boxoffice.reservations.ReservationPending.v1"
    topic = Topic.RESERVATIONS_EVENTS

    event_id: UUID
    lines: Annotated[list[ReservationLine], Field(min_length=1)]
    total_minor: MinorAmount
    currency: CurrencyCode
    expires_at: AwareDatetime


class ReservationRejected(ReservationKeyed):
    """The seats could not be held; the reservation is over."""

    message_type = "boxoffice.reservations.ReservationRejected.v1"
    topic = Topic.RESERVATIONS_EVENTS

    event_id: UUID
    reason: RefusalReason
    message: str
    lines: list[RefusedLine] = Field(default_factory=list)


class ReservationCompleted(ReservationKeyed):
    """The reservation is paid or confirmed: its seats are sold."""

    message_type = "boxoffice.reservations.ReservationCompleted.v1"
    topic = Topic.RESERVATIONS_EVENTS

    event_id: UUID
    total_minor: MinorAmount
    currency: CurrencyCode
    completed_by: str


class ReservationCancelled(ReservationKeyed):
    """The reservation was cancelled; its seats are released."""

    message_type = "boxoffice.reservations.ReservationCancelled.v1"
    topic = Topic.RESERVATIONS_EVENTS

    event_id: UUID
    cancelled_by: str


class ReservationExpired(ReservationKeyed):
    """The reservation was not completed in time; its seats are released."""

    message_type = "boxoffice.reservations.ReservationExpired.v1"
    topic = Topic.RESERVATIONS_EVENTS

    event_id: UUID


class ReservationExpiryChanged(ReservationKeyed):
    """The pending reservation now expires at ``expires_at``."""

    message_type = "boxoffice.reservations.ReservationExpiryChanged.v1"
    topic = Topic.RESERVATIONS_EVENTS

    event_id: UUID
    expires_at: AwareDatetime


class ReservationOfflinePayment(ReservationKeyed):
    """The contact chose to pay by bank transfer before ``expires_at``."""

    message_type = "boxoffice.reservations.ReservationOfflinePayment.v1"
    topic = Topic.RESERVATIONS_EVENTS

    event_id: UUID
    total_minor: MinorAmount
    currency: CurrencyCode
    expires_at: AwareDatetime


ReservationEvent = Annotated[
    Annotated[Envelope[ReservationCreated], Tag(ReservationCreated.message_type)]
    | Annotated[Envelope[ReservationPending], Tag(ReservationPending.message_type)]
    | Annotated[Envelope[ReservationRejected], Tag(ReservationRejected.message_type)]
    | Annotated[Envelope[ReservationCompleted], Tag(ReservationCompleted.message_type)]
    | Annotated[Envelope[ReservationCancelled], Tag(ReservationCancelled.message_type)]
    | Annotated[Envelope[ReservationExpired], Tag(ReservationExpired.message_type)]
    | Annotated[Envelope[ReservationExpiryChanged], Tag(ReservationExpiryChanged.message_type)]
    | Annotated[Envelope[ReservationOfflinePayment], Tag(ReservationOfflinePayment.message_type)],
    Discriminator(envelope_type),
]
"""Any envelope of ``reservations.events``, discriminated by its ``type``."""
