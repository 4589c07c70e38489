"""Messages of the inventory topics, keyed by event id."""

from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, Discriminator, Field, Tag

from boxoffice.contracts.common import (
    CategoryRef,
    Channel,
    CurrencyCode,
    MinorAmount,
    Quantity,
    Value,
    Visibility,
)
from boxoffice.contracts.envelope import Envelope, EventKeyed, envelope_type
from boxoffice.contracts.topics import Topic

# --- inventory.commands ---


class HoldLine(CategoryRef):
    """Seats asked in one category, given by exactly one of category_id and new_category."""

    quantity: Quantity


class HoldSeats(EventKeyed):
    """Hold seats for one reservation, all lines or none.

    Holding again for a reservation id that already holds seats answers the same outcome.
    """

    message_type = "boxoffice.inventory.HoldSeats.v1"
    topic = Topic.INVENTORY_COMMANDS

    reservation_id: UUID
    channel: Channel
    add_seats_if_not_available: bool = False
    lines: Annotated[list[HoldLine], Field(min_length=1)]


class ConfirmSeats(EventKeyed):
    """Turn the seats held for a reservation into sold seats."""

    message_type = "boxoffice.inventory.ConfirmSeats.v1"
    topic = Topic.INVENTORY_COMMANDS

    reservation_id: UUID


class ReleaseSeats(EventKeyed):
    """Free the seats, held or sold, of a reservation."""

    message_type = "boxoffice.inventory.ReleaseSeats.v1"
    topic = Topic.INVENTORY_COMMANDS

    reservation_id: UUID
    reason: str


InventoryCommand = Annotated[
    Annotated[Envelope[HoldSeats], Tag(HoldSeats.message_type)]
    | Annotated[Envelope[ConfirmSeats], Tag(ConfirmSeats.message_type)]
    | Annotated[Envelope[ReleaseSeats], Tag(ReleaseSeats.message_type)],
    Discriminator(envelope_type),
]
"""Any envelope of ``inventory.commands``, discriminated by its ``type``."""

# --- inventory.events ---


class RefusalReason(StrEnum):
    """Why seats could not be held (the codes DESIGN §4 names, as written there)."""

    NOT_ENOUGH_SEATS = "NOT_ENOUGH_SEATS"
    CATEGORY_NOT_FOUND = "CATEGORY_NOT_FOUND"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    EVENT_NOT_FOUND = "EVENT_NOT_FOUND"
    INVALID_REQUEST = "INVALID_REQUEST"


class EventUpserted(EventKeyed):
    """Full state of an event, for replicas; a higher ``version`` supersedes."""

    message_type = "boxoffice.inventory.EventUpserted.v1"
    topic = Topic.INVENTORY_EVENTS

    organization: str
    slug: str
    name: str
    currency: CurrencyCode
    timezone: str = Field(description="IANA time zone name, e.g. Europe/Zurich.")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    capacity: Annotated[int, Field(ge=0)]
    public_reservation_limit: Annotated[int, Field(ge=1)]
    version: Annotated[int, Field(ge=1)]
    terms_url: str | None = Field(default=None, description="The event's terms and conditions.")
    privacy_policy_url: str | None = Field(default=None, description="The event's privacy policy.")
    payment_beneficiary: str | None = Field(
        default=None, description="Who bank transfers are made out to."
    )
    payment_iban: str | None = Field(
        default=None, description="The IBAN bank transfers are paid to."
    )
    payment_deadline_days: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="Days a contact has to pay by bank transfer (null: the reader's default).",
    )


class CategoryUpserted(EventKeyed):
    """Full state of a ticket category, for replicas; a higher ``version`` supersedes."""

    message_type = "boxoffice.inventory.CategoryUpserted.v1"
    topic = Topic.INVENTORY_EVENTS

    category_id: UUID
    name: str
    visibility: Visibility
    price_minor: MinorAmount
    # Required although nullable: None means unlimited, which must never be a default.
    max_seats: Annotated[int, Field(ge=0)] | None = Field(
        description="Seats reserved for the category; null when it draws on the event's free seats."
    )
    held: Annotated[int, Field(ge=0)]
    sold: Annotated[int, Field(ge=0)]
    created_on_the_fly: bool = False
    version: Annotated[int, Field(ge=1)]


class HeldLine(Value):
    """Seats held for one line of a :class:`HoldSeats`."""

    line_index: Annotated[int, Field(ge=0)] = Field(
        description="Position of the line in the HoldSeats command."
    )
    category_id: UUID
    category_name: str
    quantity: Quantity
    unit_price_minor: MinorAmount
    category_created: bool = False


class SeatsHeld(EventKeyed):
    """All lines of a :class:`HoldSeats` are held."""

    message_type = "boxoffice.inventory.SeatsHeld.v1"
    topic = Topic.INVENTORY_EVENTS

    reservation_id: UUID
    currency: CurrencyCode
    lines: Annotated[list[HeldLine], Field(min_length=1)]


class RefusedLine(Value):
    """A line of a :class:`HoldSeats` that could not be served."""

    line_index: Annotated[int, Field(ge=0)] = Field(
        description="Position of the line in the HoldSeats command."
    )
    category_id: UUID | None = None
    category_name: str | None = None
    asked: Quantity
    available: Annotated[int, Field(ge=0)]


class SeatsRefused(EventKeyed):
    """Nothing of a :class:`HoldSeats` is held."""

    message_type = "boxoffice.inventory.SeatsRefused.v1"
    topic = Topic.INVENTORY_EVENTS

    reservation_id: UUID
    reason: RefusalReason
    message: str
    lines: list[RefusedLine] = Field(default_factory=list)


class SeatsConfirmed(EventKeyed):
    """The seats held for a reservation are sold."""

    message_type = "boxoffice.inventory.SeatsConfirmed.v1"
    topic = Topic.INVENTORY_EVENTS

    reservation_id: UUID


class SeatsReleased(EventKeyed):
    """The seats of a reservation are free again."""

    message_type = "boxoffice.inventory.SeatsReleased.v1"
    topic = Topic.INVENTORY_EVENTS

    reservation_id: UUID
    reason: str


InventoryEvent = Annotated[
    Annotated[Envelope[EventUpserted], Tag(EventUpserted.message_type)]
    | Annotated[Envelope[CategoryUpserted], Tag(CategoryUpserted.message_type)]
    | Annotated[Envelope[SeatsHeld], Tag(SeatsHeld.message_type)]
    | Annotated[Envelope[SeatsRefused], Tag(SeatsRefused.message_type)]
    | Annotated[Envelope[SeatsConfirmed], Tag(SeatsConfirmed.message_type)]
    | Annotated[Envelope[SeatsReleased], Tag(SeatsReleased.message_type)],
    Discriminator(envelope_type),
]
"""Any envelope of ``inventory.events``, discriminated by its ``type``."""
