"""Every query of the inventory service."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from boxoffice.inventory.models import Event, Hold, HoldLine, TicketCategory


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

    # --- events ---

    async def event_by_slug(self, slug: str, *, lock: bool = False) -> Event | None:
        """The event with this slug (any organization), optionally locked."""
        query = select(Event).where(Event.slug == slug)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        return (await self.session.scalars(query)).one_or_none()

    async def lock_event(self, event_id: uuid.UUID) -> Event | None:
        """The event, locked until the transaction ends; None when unknown."""
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
        query = (
            select(TicketCategory)
            .where(TicketCategory.event_id == event_id)
            .order_by(TicketCategory.position)
            .execution_options(populate_existing=True)
        )
        return list((await self.session.scalars(query)).all())

    async def categories_of_events(
        self, event_ids: Sequence[uuid.UUID]
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
        for category in (await self.session.scalars(query)).all():
            found[category.event_id].append(category)
        return found

    async def next_category_position(self, event_id: uuid.UUID) -> int:
        """The position of the next category created in an event."""
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

    # --- holds ---

    async def hold(self, reservation_id: uuid.UUID) -> Hold | None:
        """The hold of a reservation with its lines, or None."""
        query = (
            select(Hold)
            .where(Hold.reservation_id == reservation_id)
            .options(selectinload(Hold.lines))
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(query)).one_or_none()

    async def add_hold(self, hold: Hold) -> None:
        """Insert a hold with its lines."""
        self.session.add(hold)
        await self.session.flush()

    async def replace_hold_lines(self, hold: Hold, lines: Sequence[HoldLine]) -> None:
        """Give a hold new lines (a released reservation holding seats again)."""
        await self.session.execute(
            delete(HoldLine).where(HoldLine.reservation_id == hold.reservation_id)
        )
        self.session.expire(hold, ["lines"])
        for line in lines:
            line.reservation_id = hold.reservation_id
        self.session.add_all(lines)
        await self.session.flush()

    async def flush(self) -> None:
        """Write pending changes (bumping row versions) without committing."""
        await self.session.flush()
