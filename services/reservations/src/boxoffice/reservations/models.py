"""ORM tables of the reservations service."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from boxoffice.chassis.columns import UtcDateTime
from boxoffice.chassis.db import new_metadata
from boxoffice.chassis.tables import define_messaging_tables

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
_SERIAL = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base of the reservations service's own database."""

    metadata = new_metadata()


messaging_tables = define_messaging_tables(Base.metadata)


class ReservationStatus(StrEnum):
    """Where a reservation is in its lifecycle (DESIGN §5)."""

    AWAITING_SEATS = "AWAITING_SEATS"
    PENDING = "PENDING"
    OFFLINE_PAYMENT = "OFFLINE_PAYMENT"
    COMPLETE = "COMPLETE"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


OPEN_STATUSES = (
    ReservationStatus.AWAITING_SEATS,
    ReservationStatus.PENDING,
    ReservationStatus.OFFLINE_PAYMENT,
)
"""Statuses that are not final: the reservation may still change and expire."""


class TicketStatus(StrEnum):
    """Where a ticket is: held with its reservation, sold, or given back."""

    PENDING = "PENDING"
    ACQUIRED = "ACQUIRED"
    RELEASED = "RELEASED"


class HoldPurpose(StrEnum):
    """Why seats were last asked for: a refusal ends a new reservation, not a reinstated one."""

    CREATE = "create"
    REINSTATE = "reinstate"


class EventReplica(Base):
    """An event as inventory last described it (read-only copy fed by ``EventUpserted``)."""

    __tablename__ = "event_replicas"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    organization: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(500))
    currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(100))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime())
    capacity: Mapped[int] = mapped_column(Integer)
    public_reservation_limit: Mapped[int] = mapped_column(Integer)
    terms_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    privacy_policy_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    payment_beneficiary: Mapped[str | None] = mapped_column(String(200), nullable=True)
    payment_iban: Mapped[str | None] = mapped_column(String(34), nullable=True)
    payment_deadline_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    version: Mapped[int] = mapped_column(BigInteger)


class CategoryReplica(Base):
    """A ticket category as inventory last described it (fed by ``CategoryUpserted``)."""

    __tablename__ = "category_replicas"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # No foreign key: a category may be replicated before its event on another partition
    # replay, and the replica must accept whatever order inventory's history arrives in.
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    name: Mapped[str] = mapped_column(String(200))
    visibility: Mapped[str] = mapped_column(String(20))
    price_minor: Mapped[int] = mapped_column(BigInteger)
    max_seats: Mapped[int | None] = mapped_column(Integer, nullable=True)
    held: Mapped[int] = mapped_column(Integer)
    sold: Mapped[int] = mapped_column(Integer)
    created_on_the_fly: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(BigInteger)


class Reservation(Base):
    """Tickets reserved for one contact at one event."""

    __tablename__ = "reservations"
    __table_args__ = (
        Index("ix_reservations_event_id_created_at", "event_id", "created_at"),
        Index("ix_reservations_status_expires_at", "status", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    organization: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20))
    status: Mapped[ReservationStatus] = mapped_column(String(30))
    hold_purpose: Mapped[HoldPurpose] = mapped_column(String(20))
    contact_first_name: Mapped[str] = mapped_column(String(200))
    contact_last_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(254))
    contact_company: Mapped[str | None] = mapped_column(String(200), nullable=True)
    contact_language: Mapped[str | None] = mapped_column(String(20), nullable=True)
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    share_token: Mapped[str] = mapped_column(String(100), unique=True)
    # The token is looked up by its SHA-256, so the index search never compares secrets.
    share_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    add_seats_if_not_available: Mapped[bool] = mapped_column(Boolean)
    refusal_reason: Mapped[str | None] = mapped_column(String(50), nullable=True)
    refusal_message: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    refusal_lines: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    lines: Mapped[list[ReservationLine]] = relationship(
        lazy="raise", order_by="ReservationLine.line_index", cascade="all, delete-orphan"
    )
    tickets: Mapped[list[Ticket]] = relationship(
        lazy="raise", order_by="Ticket.position", cascade="all, delete-orphan"
    )


class ReservationLine(Base):
    """Seats of one category in a reservation; the category may be created by the hold."""

    __tablename__ = "reservation_lines"

    id: Mapped[int] = mapped_column(_SERIAL, primary_key=True, autoincrement=True)
    reservation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("reservations.id", ondelete="CASCADE"), index=True
    )
    line_index: Mapped[int] = mapped_column(Integer)
    category_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    category_name: Mapped[str] = mapped_column(String(200))
    new_category: Mapped[bool] = mapped_column(Boolean)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)


class Ticket(Base):
    """One seat of a reservation, with its attendee when known."""

    __tablename__ = "tickets"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    reservation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("reservations.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    line_index: Mapped[int] = mapped_column(Integer)
    category_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    status: Mapped[TicketStatus] = mapped_column(String(20))
    first_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    language: Mapped[str | None] = mapped_column(String(20), nullable=True)
    reference: Mapped[str | None] = mapped_column(String(200), nullable=True)

    @property
    def assigned(self) -> bool:
        """Whether the ticket names its holder (name and email): it can be emailed."""
        return bool(self.first_name and self.last_name and self.email)


class AuditEntry(Base):
    """Who did what to a reservation, and when."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(_SERIAL, primary_key=True, autoincrement=True)
    reservation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("reservations.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)


class IdempotencyKey(Base):
    """A create request already answered: a retry with the same key gets its reservation."""

    __tablename__ = "idempotency_keys"

    organization: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    reservation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("reservations.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class EmailStatus(StrEnum):
    """Delivery of one ticket email, as notifications reports it."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class TicketEmail(Base):
    """One ticket emailed to its attendee; updated from ``notifications.events``."""

    __tablename__ = "ticket_emails"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    reservation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("reservations.id", ondelete="CASCADE"), index=True
    )
    ticket_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    to: Mapped[str] = mapped_column(String(254))
    status: Mapped[EmailStatus] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
