"""ORM tables of the inventory service: events, ticket categories and seat holds."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from boxoffice.chassis.columns import UtcDateTime
from boxoffice.chassis.db import new_metadata
from boxoffice.chassis.tables import define_messaging_tables
from boxoffice.contracts.common import Channel, Visibility
from boxoffice.inventory.allocation import CategoryState


class Base(DeclarativeBase):
    """Declarative base of the inventory service's own database."""

    metadata = new_metadata()


messaging_tables = define_messaging_tables(Base.metadata)


def _string_enum(enum: type[StrEnum]) -> Enum:
    # Stored as the enum's values in a plain VARCHAR: portable and readable in SQL.
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=20,
        values_callable=lambda members: [member.value for member in members],
    )


class Event(Base):
    """An event of an organization, with its seat capacity.

    ``version`` grows with every change of the row (SQLAlchemy's version counter) and
    is published in ``EventUpserted`` so replicas can ignore stale copies.
    """

    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("capacity >= 0", name="capacity_not_negative"),
        CheckConstraint("public_reservation_limit >= 1", name="public_limit_positive"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization: Mapped[str] = mapped_column(String(200), index=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime())
    capacity: Mapped[int] = mapped_column(Integer)
    public_reservation_limit: Mapped[int] = mapped_column(Integer, default=5)
    terms_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    privacy_policy_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    payment_beneficiary: Mapped[str | None] = mapped_column(String(200), nullable=True)
    payment_iban: Mapped[str | None] = mapped_column(String(34), nullable=True)
    payment_deadline_days: Mapped[int] = mapped_column(Integer, default=5, server_default="5")
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    categories: Mapped[list[TicketCategory]] = relationship(
        back_populates="event", lazy="raise", order_by="TicketCategory.position"
    )

    __mapper_args__: dict[str, Any] = {"version_id_col": version}  # noqa: RUF012


class TicketCategory(Base):
    """A ticket category: bounded (``max_seats`` reserved) or dynamic (``None``).

    ``held`` and ``sold`` are counters kept in step with the hold lines by the
    service, under the event's lock; the database refuses a bounded category
    with more seats used than reserved.
    """

    __tablename__ = "ticket_categories"
    __table_args__ = (
        UniqueConstraint("event_id", "name_key", name="uq_ticket_categories_event_name"),
        CheckConstraint("price_minor >= 0", name="price_not_negative"),
        CheckConstraint("held >= 0 AND sold >= 0", name="counts_not_negative"),
        CheckConstraint(
            "max_seats IS NULL OR held + sold <= max_seats", name="bounded_not_oversold"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100))
    """The name folded for uniqueness per event (case and blanks ignored)."""
    position: Mapped[int] = mapped_column(Integer)
    """Order of creation within the event, the order categories are listed in."""
    visibility: Mapped[Visibility] = mapped_column(_string_enum(Visibility))
    price_minor: Mapped[int] = mapped_column(BigInteger)
    max_seats: Mapped[int | None] = mapped_column(Integer, nullable=True)
    held: Mapped[int] = mapped_column(Integer, default=0)
    sold: Mapped[int] = mapped_column(Integer, default=0)
    created_on_the_fly: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    event: Mapped[Event] = relationship(back_populates="categories", lazy="raise")

    def state(self) -> CategoryState:
        """The category as the allocation rules see it."""
        return CategoryState(
            id=self.id,
            name=self.name,
            visibility=self.visibility,
            price_minor=self.price_minor,
            max_seats=self.max_seats,
            held=self.held,
            sold=self.sold,
        )

    __mapper_args__: dict[str, Any] = {"version_id_col": version}  # noqa: RUF012


class HoldStatus(StrEnum):
    """Where the seats of one reservation stand."""

    HELD = "held"
    SOLD = "sold"
    RELEASED = "released"
    REFUSED = "refused"


class Hold(Base):
    """The seats of one reservation, and the answer given to its ``HoldSeats``.

    ``outcome`` keeps the published ``SeatsHeld`` or ``SeatsRefused`` data, so a
    repeated command is answered with exactly the same outcome.
    """

    __tablename__ = "holds"

    reservation_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id"), index=True)
    channel: Mapped[Channel] = mapped_column(_string_enum(Channel))
    status: Mapped[HoldStatus] = mapped_column(_string_enum(HoldStatus))
    outcome: Mapped[dict[str, Any]] = mapped_column(JSON)
    release_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    lines: Mapped[list[HoldLine]] = relationship(
        back_populates="hold",
        lazy="raise",
        order_by="HoldLine.line_index",
        cascade="all, delete-orphan",
    )


class HoldLine(Base):
    """Seats of one category held (or sold) for a reservation."""

    __tablename__ = "hold_lines"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        Index("ix_hold_lines_category_id", "category_id"),
    )

    reservation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("holds.reservation_id", ondelete="CASCADE"), primary_key=True
    )
    line_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    category_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ticket_categories.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    category_created: Mapped[bool] = mapped_column(default=False)

    hold: Mapped[Hold] = relationship(back_populates="lines", lazy="raise")
