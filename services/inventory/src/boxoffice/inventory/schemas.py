"""HTTP request and response models of the inventory API."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Self
from zoneinfo import ZoneInfo, available_timezones

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from boxoffice.contracts.common import Visibility
from boxoffice.inventory.allocation import MAX_SEATS, available_in, unallocated
from boxoffice.inventory.models import Event, TicketCategory
from boxoffice.inventory.money import CURRENCY_DIGITS, format_amount, is_known_currency

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_DECIMAL = re.compile(r"^-?\d+(?:\.\d+)?$")


def _check_slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError(
            "slug may contain lowercase letters, digits and single hyphens between them"
        )
    return value


def _check_currency(value: str) -> str:
    code = value.strip().upper()
    if not is_known_currency(code):
        raise ValueError(f"{value!r} is not a supported ISO 4217 currency code")
    return code


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _check_timezone(value: str) -> str:
    if value not in _time_zones():
        raise ValueError(f"{value!r} is not an IANA time zone name (e.g. Europe/Zurich)")
    return value


def _parse_price(value: Any) -> Decimal:
    # Strings only: a JSON number may already have lost cents on its way in.
    if not isinstance(value, str) or not _DECIMAL.match(value.strip()):
        raise ValueError('price must be a decimal string, e.g. "100.00"')
    try:
        price = Decimal(value.strip())
    except InvalidOperation as error:  # pragma: no cover - the pattern rules it out
        raise ValueError('price must be a decimal string, e.g. "100.00"') from error
    if price < 0:
        raise ValueError("price must not be negative")
    return price


Slug = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100),
    AfterValidator(_check_slug),
    WithJsonSchema({"type": "string", "pattern": _SLUG.pattern, "maxLength": 100}),
]
"""Lowercase letters, digits and hyphens; unique across all organizations."""

Currency = Annotated[
    str,
    AfterValidator(_check_currency),
    WithJsonSchema({"type": "string", "enum": sorted(CURRENCY_DIGITS), "example": "EUR"}),
]
TimeZoneName = Annotated[
    str,
    StringConstraints(max_length=64),
    AfterValidator(_check_timezone),
    WithJsonSchema({"type": "string", "example": "Europe/Zurich"}),
]
Price = Annotated[
    Decimal,
    BeforeValidator(_parse_price),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\d+(\.\d+)?$",
            "example": "100.00",
            "description": "Amount in the event currency, at most its number of decimals.",
        }
    ),
]
EventName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
CategoryName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
]
Capacity = Annotated[int, Field(ge=0, le=MAX_SEATS)]
MaxSeats = Annotated[int, Field(ge=0, le=MAX_SEATS)]
PublicLimit = Annotated[int, Field(ge=1, le=MAX_SEATS)]
WebAddress = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=2000, pattern=r"^https?://[^\s]+$"),
    Field(examples=["https://example.org/terms"]),
]
Beneficiary = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
PaymentDeadlineDays = Annotated[int, Field(ge=1, le=365)]


def _normal_iban(value: str) -> str:
    compact = value.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", compact):
        raise ValueError("not an IBAN")
    return compact


Iban = Annotated[
    str,
    AfterValidator(_normal_iban),
    Field(examples=["CH93 0076 2011 6238 5295 7"], description="Spaces are removed."),
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Patch(_Request):
    """A partial update: absent fields are kept; null only where a field allows it."""

    nullable_fields: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Self:
        for name in self.model_fields_set:
            if getattr(self, name) is None and name not in self.nullable_fields:
                raise ValueError(f"{name} cannot be null")
        return self


class CategoryCreate(_Request):
    """A ticket category to add to an event."""

    name: CategoryName
    visibility: Visibility = Visibility.PUBLIC
    price: Price
    max_seats: MaxSeats | None = Field(
        description="Seats reserved for the category out of the capacity; "
        "null for a dynamic category drawing on the unallocated seats."
    )


class EventCreate(_Request):
    """An event with its initial ticket categories."""

    slug: Slug
    name: EventName
    currency: Currency
    timezone: TimeZoneName
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    capacity: Capacity
    public_reservation_limit: PublicLimit = 5
    terms_url: WebAddress | None = None
    privacy_policy_url: WebAddress | None = None
    payment_beneficiary: Beneficiary | None = None
    payment_iban: Iban | None = None
    payment_deadline_days: PaymentDeadlineDays = Field(
        default=5, description="Days a contact has to pay by bank transfer."
    )
    categories: Annotated[list[CategoryCreate], Field(max_length=200)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class EventUpdate(_Patch):
    """Changes to an event; ``slug`` and ``currency`` are fixed at creation."""

    nullable_fields: ClassVar[frozenset[str]] = frozenset(
        {"terms_url", "privacy_policy_url", "payment_beneficiary", "payment_iban"}
    )

    name: EventName | None = None
    timezone: TimeZoneName | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    capacity: Capacity | None = None
    public_reservation_limit: PublicLimit | None = None
    terms_url: WebAddress | None = None
    privacy_policy_url: WebAddress | None = None
    payment_beneficiary: Beneficiary | None = None
    payment_iban: Iban | None = None
    payment_deadline_days: PaymentDeadlineDays | None = None


class CategoryUpdate(_Patch):
    """Changes to a ticket category; ``max_seats: null`` makes it dynamic."""

    nullable_fields: ClassVar[frozenset[str]] = frozenset({"max_seats"})

    name: CategoryName | None = None
    visibility: Visibility | None = None
    price: Price | None = None
    max_seats: MaxSeats | None = None


class CategoryRead(BaseModel):
    """A ticket category with its seat figures."""

    id: uuid.UUID
    name: str
    visibility: Visibility
    price: str = Field(description='In the event currency, e.g. "100.00".')
    max_seats: int | None = Field(description="null for a dynamic category")
    held: int
    sold: int
    available: int = Field(
        description="Seats a hold could take now without growing anything; for a "
        "dynamic category, the event's unallocated seats."
    )
    created_on_the_fly: bool
    version: int


class SeatSummary(BaseModel):
    """Seat figures of a whole event."""

    capacity: int
    reserved_for_bounded: int = Field(description="Sum of the bounded categories' max_seats.")
    unallocated: int = Field(
        description="Seats neither reserved for a bounded category nor used by a dynamic one."
    )
    held: int
    sold: int
    available: int = Field(description="capacity - held - sold")


class EventRead(BaseModel):
    """An event, its seat figures and its categories.

    Times are shown in the event's time zone.
    """

    id: uuid.UUID
    organization: str
    slug: str
    name: str
    currency: str
    timezone: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    public_reservation_limit: int
    terms_url: str | None
    privacy_policy_url: str | None
    payment_beneficiary: str | None
    payment_iban: str | None
    payment_deadline_days: int
    version: int
    seats: SeatSummary
    categories: list[CategoryRead]


def category_read(event: Event, category: TicketCategory, pool: int) -> CategoryRead:
    """Shape a category for the API, given the event's unallocated seats."""
    return CategoryRead(
        id=category.id,
        name=category.name,
        visibility=category.visibility,
        price=format_amount(category.price_minor, event.currency),
        max_seats=category.max_seats,
        held=category.held,
        sold=category.sold,
        available=available_in(category.state(), pool),
        created_on_the_fly=category.created_on_the_fly,
        version=category.version,
    )


def event_read(event: Event, categories: Sequence[TicketCategory]) -> EventRead:
    """Shape an event and its categories for the API."""
    states = [category.state() for category in categories]
    pool = unallocated(event.capacity, states)
    zone = ZoneInfo(event.timezone)
    held = sum(category.held for category in categories)
    sold = sum(category.sold for category in categories)
    return EventRead(
        id=event.id,
        organization=event.organization,
        slug=event.slug,
        name=event.name,
        currency=event.currency,
        timezone=event.timezone,
        starts_at=event.starts_at.astimezone(zone),
        ends_at=event.ends_at.astimezone(zone),
        capacity=event.capacity,
        public_reservation_limit=event.public_reservation_limit,
        terms_url=event.terms_url,
        privacy_policy_url=event.privacy_policy_url,
        payment_beneficiary=event.payment_beneficiary,
        payment_iban=event.payment_iban,
        payment_deadline_days=event.payment_deadline_days,
        version=event.version,
        seats=SeatSummary(
            capacity=event.capacity,
            reserved_for_bounded=sum(c.max_seats for c in categories if c.max_seats is not None),
            unallocated=pool,
            held=held,
            sold=sold,
            available=event.capacity - held - sold,
        ),
        categories=[category_read(event, category, pool) for category in categories],
    )
