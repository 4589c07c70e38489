"""Every query of the reservations service."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, inspect, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.sql.base import ExecutableOption

from boxoffice.chassis.db import at_commit, transaction_cache
from boxoffice.reservations.models import (
    OPEN_STATUSES,
    AuditEntry,
    CategoryReplica,
    EventReplica,
    IdempotencyKey,
    Reservation,
    ReservationLine,
    ReservationStatus,
    Ticket,
    TicketEmail,
)


async def get_event(session: AsyncSession, event_id: uuid.UUID) -> EventReplica | None:
    """The replicated event with this id."""
    return await session.get(EventReplica, event_id)


async def find_event_by_slug(
    session: AsyncSession, slug: str, organization: str | None
) -> EventReplica | None:
    """The organization's event with this slug (another organization's is not found).

    ``organization=None`` looks in every organization (commands of other systems).
    """
    if organization is None:
        result = await session.execute(_EVENT_BY_SLUG, {"slug": slug})
    else:
        result = await session.execute(
            _EVENT_BY_SLUG_IN_ORGANIZATION, {"slug": slug, "organization": organization}
        )
    return result.scalars().first()


# Built once: a statement object is built and its cache key computed on first use only.
_EVENT_BY_SLUG = (
    select(EventReplica)
    .where(EventReplica.slug == bindparam("slug"))
    .order_by(EventReplica.version.desc())
)
_EVENT_BY_SLUG_IN_ORGANIZATION = _EVENT_BY_SLUG.where(
    EventReplica.organization == bindparam("organization")
)


async def list_events(session: AsyncSession, organization: str) -> list[EventReplica]:
    """The organization's replicated events, the soonest first."""
    result = await session.execute(
        select(EventReplica)
        .where(EventReplica.organization == organization)
        .order_by(EventReplica.starts_at, EventReplica.slug)
    )
    return list(result.scalars())


async def event_categories(session: AsyncSession, event_id: uuid.UUID) -> list[CategoryReplica]:
    """Every replicated category of an event (hidden ones too), by name."""
    result = await session.execute(
        select(CategoryReplica)
        .where(CategoryReplica.event_id == event_id)
        .order_by(CategoryReplica.name, CategoryReplica.id)
    )
    return list(result.scalars())


async def get_category(session: AsyncSession, category_id: uuid.UUID) -> CategoryReplica | None:
    """The replicated category with this id."""
    return await session.get(CategoryReplica, category_id)


async def load_categories(session: AsyncSession, category_ids: Sequence[uuid.UUID]) -> None:
    """Load several replicated categories at once (:func:`get_category` then finds them)."""
    if category_ids:
        await session.execute(
            select(CategoryReplica).where(CategoryReplica.id.in_(set(category_ids)))
        )


async def categories_by_id(
    session: AsyncSession, event_id: uuid.UUID, category_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, CategoryReplica]:
    """The event's categories among ``category_ids``, by id."""
    if not category_ids:
        return {}
    result = await session.execute(
        _CATEGORIES_BY_ID, {"event_id": event_id, "ids": list(set(category_ids))}
    )
    return {category.id: category for category in result.scalars()}


_CATEGORIES_BY_ID = select(CategoryReplica).where(
    CategoryReplica.event_id == bindparam("event_id"),
    CategoryReplica.id.in_(bindparam("ids", expanding=True)),
)


async def insert_new_reservation(session: AsyncSession, reservation: Reservation) -> None:
    """Insert a reservation built in memory, with its lines and tickets, in one go.

    Plain INSERTs rather than the unit of work: a new reservation has nothing to
    compare or order, and its lines and tickets go in with one statement each. The
    object stays out of the session; a later read in the transaction loads the rows.
    """
    await session.run_sync(_insert_rows, reservation)


def _insert_rows(session: Session, reservation: Reservation) -> None:
    session.execute(_INSERT_RESERVATION, [_column_values(reservation)])
    if reservation.lines:
        session.execute(
            _INSERT_LINES,
            [
                _column_values(line) | {"reservation_id": reservation.id}
                for line in reservation.lines
            ],
        )
    if reservation.tickets:
        session.execute(
            _INSERT_TICKETS,
            [
                _column_values(ticket) | {"reservation_id": reservation.id}
                for ticket in reservation.tickets
            ],
        )


_INSERT_RESERVATION = insert(cast("Table", Reservation.__table__))
_INSERT_LINES = insert(cast("Table", ReservationLine.__table__))
_INSERT_TICKETS = insert(cast("Table", Ticket.__table__))


def _column_values(instance: Any) -> dict[str, Any]:
    """The column attributes set on a transient instance (unset ones take their defaults)."""
    state = inspect(instance)
    values = state.dict
    return {
        prop.columns[0].key: values[prop.key]
        for prop in state.mapper.column_attrs
        if prop.key in values
    }


def _with_children() -> tuple[ExecutableOption, ...]:
    return (selectinload(Reservation.lines), selectinload(Reservation.tickets))


def _one_with_children() -> tuple[ExecutableOption, ...]:
    # The few lines of a reservation come in the same query (one round trip less on
    # every load, the consumer's batches included); tickets, possibly thousands,
    # separately.
    return (joinedload(Reservation.lines), selectinload(Reservation.tickets))


_LOCKED = "reservations_locked"


async def lock_reservations(session: AsyncSession, reservation_ids: Sequence[uuid.UUID]) -> None:
    """Lock and load several reservations with their lines and tickets, in id order.

    Until the transaction ends, :func:`get_reservation` ``for_update`` answers these
    from memory (a consumer batch loads all its reservations at once).
    """
    wanted = set(reservation_ids)
    if not wanted:
        return
    query = (
        select(Reservation)
        .where(Reservation.id.in_(wanted))
        .order_by(Reservation.id)
        .options(*_one_with_children())
        .with_for_update(of=Reservation)
        .execution_options(populate_existing=True)
    )
    found = {reservation.id: reservation for reservation in (await session.scalars(query)).unique()}
    locked: dict[uuid.UUID, Reservation | None] = transaction_cache(session).setdefault(_LOCKED, {})
    for reservation_id in wanted:
        locked[reservation_id] = found.get(reservation_id)


async def get_reservation(
    session: AsyncSession, reservation_id: uuid.UUID, *, for_update: bool = False
) -> Reservation | None:
    """A reservation with its lines and tickets; ``for_update`` locks its row until commit."""
    if for_update:
        locked = transaction_cache(session).get(_LOCKED, {})
        if reservation_id in locked:
            return cast("Reservation | None", locked[reservation_id])
    query = (
        select(Reservation).where(Reservation.id == reservation_id).options(*_one_with_children())
    )
    if for_update:
        query = query.with_for_update(of=Reservation).execution_options(populate_existing=True)
    result = await session.execute(query)
    return result.unique().scalars().first()


async def get_reservation_by_token_hash(
    session: AsyncSession, token_hash: str, *, for_update: bool = False
) -> Reservation | None:
    """The reservation whose share token has this hash; ``for_update`` locks its row."""
    query = (
        select(Reservation)
        .where(Reservation.share_token_hash == token_hash)
        .options(*_one_with_children())
    )
    if for_update:
        query = query.with_for_update(of=Reservation).execution_options(populate_existing=True)
    result = await session.execute(query)
    return result.unique().scalars().first()


async def reservation_status(
    session: AsyncSession, reservation_id: uuid.UUID
) -> ReservationStatus | None:
    """Only the status of a reservation (what a waiting request polls)."""
    result = await session.execute(
        select(Reservation.status).where(Reservation.id == reservation_id)
    )
    status = result.scalar_one_or_none()
    return None if status is None else ReservationStatus(status)


async def settled_reservations(
    session: AsyncSession, reservation_ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    """Which of these reservations are no longer waiting for seats (one query)."""
    result = await session.execute(
        select(Reservation.id).where(
            Reservation.id.in_(reservation_ids),
            Reservation.status != ReservationStatus.AWAITING_SEATS,
        )
    )
    return list(result.scalars())


async def list_reservations(
    session: AsyncSession,
    event_id: uuid.UUID,
    *,
    status: ReservationStatus | None,
    search: str | None,
    offset: int,
    limit: int,
) -> tuple[list[Reservation], int]:
    """One page of an event's reservations, newest first, and how many match in all."""
    conditions = [Reservation.event_id == event_id]
    if status is not None:
        conditions.append(Reservation.status == status.value)
    if search:
        pattern = f"%{search.lower()}%"
        full_name = func.lower(Reservation.contact_first_name + " " + Reservation.contact_last_name)
        conditions.append(
            or_(
                full_name.like(pattern),
                func.lower(Reservation.contact_email).like(pattern),
                func.lower(func.coalesce(Reservation.contact_company, "")).like(pattern),
            )
        )
    total = await session.scalar(select(func.count()).select_from(Reservation).where(*conditions))
    result = await session.execute(
        select(Reservation)
        .where(*conditions)
        .options(*_with_children())
        .order_by(Reservation.created_at.desc(), Reservation.id)
        .offset(offset)
        .limit(limit)
    )
    return list(result.scalars()), int(total or 0)


async def lock_overdue_reservations(
    session: AsyncSession, now: datetime, limit: int
) -> list[Reservation]:
    """Open reservations past their expiry, locked; rows another replica holds are skipped.

    ``SKIP LOCKED`` lets several sweepers share the work on PostgreSQL; on SQLite the
    whole transaction is serialised by ``BEGIN IMMEDIATE`` instead.
    """
    result = await session.execute(
        select(Reservation)
        .where(
            Reservation.status.in_([status.value for status in OPEN_STATUSES]),
            Reservation.expires_at <= now,
        )
        .order_by(Reservation.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .options(*_with_children())
        .execution_options(populate_existing=True)
    )
    return list(result.scalars())


async def audit_entries(session: AsyncSession, reservation_id: uuid.UUID) -> list[AuditEntry]:
    """A reservation's audit log, oldest first."""
    result = await session.execute(
        select(AuditEntry)
        .where(AuditEntry.reservation_id == reservation_id)
        .order_by(AuditEntry.at, AuditEntry.id)
    )
    return list(result.scalars())


async def get_idempotency_key(
    session: AsyncSession, organization: str, key: str
) -> IdempotencyKey | None:
    """The create request recorded under an organization's idempotency key."""
    return await session.get(IdempotencyKey, (organization, key))


async def ticket_emails(session: AsyncSession, reservation_id: uuid.UUID) -> list[TicketEmail]:
    """The ticket emails of a reservation, oldest first."""
    result = await session.execute(
        select(TicketEmail)
        .where(TicketEmail.reservation_id == reservation_id)
        .order_by(TicketEmail.created_at, TicketEmail.id)
    )
    return list(result.scalars())


async def get_ticket_email(
    session: AsyncSession, email_id: uuid.UUID, *, for_update: bool = False
) -> TicketEmail | None:
    """One ticket email; ``for_update`` locks it until commit."""
    query = select(TicketEmail).where(TicketEmail.id == email_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    result = await session.execute(query)
    return result.scalars().first()


OUTCOME_CHANNEL = "boxoffice_reservation_outcomes"
"""PostgreSQL NOTIFY channel carrying ids of reservations whose wait for seats ended."""
OUTCOME_IDS_PER_NOTIFICATION = 150


def notify_outcomes(session: AsyncSession, reservation_ids: list[uuid.UUID]) -> None:
    """Tell listening replicas, at commit, whose wait for seats may be over.

    One notification per transaction (the ids comma-separated, in chunks well inside
    PostgreSQL's 8,000-byte payload limit), however many outcomes a consumer batch
    applied. PostgreSQL only; on SQLite every replica shares one file and polls it.
    """
    pending = at_commit(session, "reservations_outcomes", _write_outcome_notifications, list)
    pending.extend(str(reservation_id) for reservation_id in reservation_ids)


def _write_outcome_notifications(session: Session, ids: list[str]) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), OUTCOME_IDS_PER_NOTIFICATION):
        session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {
                "channel": OUTCOME_CHANNEL,
                "payload": ",".join(unique[start : start + OUTCOME_IDS_PER_NOTIFICATION]),
            },
        )
