"""Every query of the inventory service."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from boxoffice.chassis.db import transaction_cache
from boxoffice.inventory.models import Event, Hold, HoldLine, TicketCategory

_BATCH = "inventory_batch"


@dataclass
class _Batch:
    """What a consumer batch's transaction loaded (and locked) once for all its commands.

    The rows cannot change behind the transaction's back: every seat change takes the
    event's row lock first, and the batch holds the locks of all its events.
    """

    events: dict[uuid.UUID, Event | None] = field(default_factory=dict)
    categories: dict[uuid.UUID, list[TicketCategory]] = field(default_factory=dict)
    holds: dict[uuid.UUID, Hold | None] = field(default_factory=dict)


class SlugTaken(Exception):
    """Another event already has the slug."""


class CategoryNameTaken(Exception):
    """Another category of the event already has the name."""


class InventoryRepository:
    """Reads and writes events, categories and holds in one session.

    Holds and every change of seat figures take the event's row lock first
    (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite transactions are serialised by
    ``BEGIN IMMEDIATE``): all seat decisions of one event happen one at a time.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._batch: _Batch | None = transaction_cache(session).get(_BATCH)

    async def prepare_batch(
        self, event_ids: Collection[uuid.UUID], reservation_ids: Collection[uuid.UUID]
    ) -> None:
        """Lock and load, in three queries, what a batch of seat commands touches.

        The events are locked in id order (the same order in every transaction), their
        categories and the reservations' holds loaded; the rest of the transaction's
        reads of them are answered from memory.
        """
        batch = _Batch()
        if event_ids:
            events = (
                await self.session.scalars(
                    select(Event)
                    .where(Event.id.in_(set(event_ids)))
                    .order_by(Event.id)
                    .with_for_update()
                    .execution_options(populate_existing=True)
                )
            ).all()
            batch.events = dict.fromkeys(event_ids)
            batch.events.update({event.id: event for event in events})
            batch.categories = await self.categories_of_events(
                [event.id for event in events], fresh=True
            )
        if reservation_ids:
            holds = (
                await self.session.scalars(
                    select(Hold)
                    .where(Hold.reservation_id.in_(set(reservation_ids)))
                    .options(selectinload(Hold.lines))
                    .execution_options(populate_existing=True)
                )
            ).all()
            batch.holds = dict.fromkeys(reservation_ids)
            batch.holds.update({hold.reservation_id: hold for hold in holds})
        transaction_cache(self.session)[_BATCH] = batch
        self._batch = batch

    # --- events ---

    async def event_by_slug(self, slug: str, *, lock: bool = False) -> Event | None:
        """The event with this slug (any organization), optionally locked."""
        query = select(Event).where(Event.slug == slug)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        return (await self.session.scalars(query)).one_or_none()

    async def lock_event(self, event_id: uuid.UUID) -> Event | None:
        """The event, locked until the transaction ends; None when unknown."""
        if self._batch is not None and event_id in self._batch.events:
            return self._batch.events[event_id]
        query = (
            select(Event)
            .where(Event.id == event_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(query)).one_or_none()

    async def events_of(self, organization: str) -> Sequence[Event]:
        """The events of an organization, soonest first."""
        query = (
            select(Event)
            .where(Event.organization == organization)
            .order_by(Event.starts_at, Event.slug)
        )
        return (await self.session.scalars(query)).all()

    async def slug_exists(self, slug: str) -> bool:
        """Whether any event has this slug."""
        found = await self.session.scalar(select(Event.id).where(Event.slug == slug))
        return found is not None

    async def add_event(self, event: Event, categories: Sequence[TicketCategory]) -> None:
        """Insert an event with its categories.

        Raises:
            SlugTaken: a concurrent transaction created an event with the same slug.
        """
        self.session.add(event)
        self.session.add_all(categories)
        try:
            await self.session.flush()
        except IntegrityError as error:
            raise SlugTaken(event.slug) from error

    # --- categories ---

    async def categories_of(self, event_id: uuid.UUID) -> list[TicketCategory]:
        """The categories of an event, in creation order (fresh from the database)."""
        if self._batch is not None and event_id in self._batch.categories:
            return list(self._batch.categories[event_id])
        query = (
            select(TicketCategory)
            .where(TicketCategory.event_id == event_id)
            .order_by(TicketCategory.position)
            .execution_options(populate_existing=True)
        )
        return list((await self.session.scalars(query)).all())

    async def categories_of_events(
        self, event_ids: Sequence[uuid.UUID], *, fresh: bool = False
    ) -> dict[uuid.UUID, list[TicketCategory]]:
        """The categories of several events, by event id, in creation order."""
        found: dict[uuid.UUID, list[TicketCategory]] = {event_id: [] for event_id in event_ids}
        if not event_ids:
            return found
        query = (
            select(TicketCategory)
            .where(TicketCategory.event_id.in_(event_ids))
            .order_by(TicketCategory.event_id, TicketCategory.position)
        )
        if fresh:
            query = query.execution_options(populate_existing=True)
        for category in (await self.session.scalars(query)).all():
            found[category.event_id].append(category)
        return found

    async def next_category_position(self, event_id: uuid.UUID) -> int:
        """The position of the next category created in an event."""
        if self._batch is not None and event_id in self._batch.categories:
            positions = [category.position for category in self._batch.categories[event_id]]
            return max(positions, default=-1) + 1
        highest = await self.session.scalar(
            select(func.max(TicketCategory.position)).where(TicketCategory.event_id == event_id)
        )
        return 0 if highest is None else highest + 1

    async def add_categories(self, categories: Sequence[TicketCategory]) -> None:
        """Insert categories.

        Raises:
            CategoryNameTaken: a category of the event already has one of the names.
        """
        self.session.add_all(categories)
        try:
            await self.session.flush()
        except IntegrityError as error:
            raise CategoryNameTaken from error
        if self._batch is not None:
            for category in categories:
                self._batch.categories.setdefault(category.event_id, []).append(category)

    # --- holds ---

    async def hold(self, reservation_id: uuid.UUID) -> Hold | None:
        """The hold of a reservation with its lines, or None."""
        if self._batch is not None and reservation_id in self._batch.holds:
            return self._batch.holds[reservation_id]
        query = (
            select(Hold)
            .where(Hold.reservation_id == reservation_id)
            .options(selectinload(Hold.lines))
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(query)).one_or_none()

    def add_hold(self, hold: Hold) -> None:
        """Insert a hold with its lines (written at the next flush)."""
        self.session.add(hold)
        if self._batch is not None:
            self._batch.holds[hold.reservation_id] = hold

    async def replace_hold_lines(self, hold: Hold, lines: Sequence[HoldLine]) -> None:
        """Give a hold new lines (a released reservation holding seats again)."""
        await self.session.execute(
            delete(HoldLine).where(HoldLine.reservation_id == hold.reservation_id)
        )
        for old in hold.lines:  # deleted above: forgotten, not deleted again at flush
            self.session.expunge(old)
        set_committed_value(hold, "lines", [])
        hold.lines.extend(lines)

    async def flush(self) -> None:
        """Write pending changes (bumping row versions) without committing."""
        await self.session.flush()
