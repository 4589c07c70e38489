"""Test support: settings, tokens, an in-process harness and the invariant check.

Imported by the tests as ``services.inventory.tests.support`` (pytest's importlib
mode registers the rootdir-relative package).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.chassis.runtime import ServiceRuntime
from boxoffice.contracts import parse_envelope
from boxoffice.contracts.common import Channel, NewCategory
from boxoffice.contracts.envelope import Envelope, Message
from boxoffice.contracts.inventory import (
    ConfirmSeats,
    HoldLine,
    HoldSeats,
    ReleaseSeats,
    SeatsHeld,
    SeatsRefused,
)
from boxoffice.contracts.topics import Topic
from boxoffice.devstack.token import mint_token
from boxoffice.inventory.handlers import inventory_command_handler, prepare_commands
from boxoffice.inventory.models import Event, Hold, HoldStatus, TicketCategory, messaging_tables
from boxoffice.inventory.models import HoldLine as HoldLineRow
from boxoffice.inventory.service import InventoryService
from boxoffice.inventory.settings import Settings

JWT_SECRET = "inventory-tests-secret-of-at-least-32-bytes"
RESERVATIONS = "boxoffice.reservations"

SEED_EVENT: dict[str, Any] = {
    "slug": "my-awesome-event",
    "name": "My Awesome Event",
    "currency": "EUR",
    "timezone": "Europe/Zurich",
    "starts_at": "2030-05-04T09:00:00+02:00",
    "ends_at": "2030-05-04T18:00:00+02:00",
    "capacity": 200,
    "categories": [
        {"name": "General Admission", "visibility": "public", "price": "100.00", "max_seats": None},
        {"name": "Speakers", "visibility": "hidden", "price": "0.00", "max_seats": 10},
        {"name": "Team", "visibility": "hidden", "price": "0.00", "max_seats": 5},
    ],
}
"""The user guide's "My Awesome Event"."""


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for a test instance (fast consumer settings, a test JWT secret)."""
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "jwt_secret": JWT_SECRET,
        "kafka_session_timeout_ms": 2000,
        "kafka_heartbeat_interval_ms": 600,
        "kafka_fetch_max_wait_ms": 20,
        "log_json": False,
    }
    values.update(overrides)
    return Settings(**values)


def auth(org: str = "acme", sub: str = "organizer") -> dict[str, str]:
    """Authorization header of a user of ``org``."""
    token = mint_token(JWT_SECRET, sub=sub, org=org, roles=["organizer"], ttl=timedelta(minutes=10))
    return {"Authorization": f"Bearer {token}"}


def event_body(**changes: Any) -> dict[str, Any]:
    """A valid ``POST /v1/events`` body: the seed event with ``changes``."""
    return {**SEED_EVENT, **changes}


def existing(category_id: uuid.UUID | str, quantity: int) -> HoldLine:
    """A hold line in an existing category."""
    return HoldLine(category_id=uuid.UUID(str(category_id)), quantity=quantity)


def new(name: str, price_minor: int, quantity: int) -> HoldLine:
    """A hold line in a category to create on the fly."""
    return HoldLine(new_category=NewCategory(name=name, price_minor=price_minor), quantity=quantity)


def command(data: Message, *, correlationid: str | None = None) -> Envelope[Message]:
    """Wrap a command as the reservations service would."""
    return Envelope.wrap(
        data, source=RESERVATIONS, correlationid=correlationid or str(uuid.uuid4())
    )


@dataclass
class InventoryHarness:
    """One inventory app driven in-process, without a broker.

    HTTP goes through the real ASGI app; commands run exactly as the chassis
    consumer runs them (inbox claim, then the handler, in one transaction); what
    the service published is read back from its outbox.
    """

    app: FastAPI

    def __post_init__(self) -> None:
        self.runtime: ServiceRuntime = self.app.state.runtime
        service: InventoryService = self.app.state.inventory
        self.handler = inventory_command_handler(service)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://inventory"
        )
        self._outbox_read = 0

    async def deliver(self, envelope: Envelope[Message]) -> list[Envelope[Message]]:
        """Consume one command; returns the messages published because of it."""
        await self.published()
        await self.runtime.consumer.apply(Topic.INVENTORY_COMMANDS, envelope, self.handler)
        return await self.published()

    async def deliver_batch(self, envelopes: list[Envelope[Message]]) -> list[Envelope[Message]]:
        """Consume commands as one fetched batch (one transaction); what they published."""
        await self.published()
        await self.runtime.consumer.apply_batch(
            Topic.INVENTORY_COMMANDS, envelopes, self.handler, prepare_commands
        )
        return await self.published()

    async def published(self) -> list[Envelope[Message]]:
        """Messages written to the outbox since the last call, in order."""
        outbox = messaging_tables.outbox
        async with self.runtime.sessions() as session:
            rows = (
                await session.execute(
                    select(outbox.c.id, outbox.c.payload)
                    .where(outbox.c.id > self._outbox_read)
                    .order_by(outbox.c.id)
                )
            ).all()
        if rows:
            self._outbox_read = rows[-1].id
        return [parse_envelope(Topic.INVENTORY_EVENTS, row.payload) for row in rows]

    async def hold(
        self,
        event_id: uuid.UUID | str,
        *lines: HoldLine,
        reservation_id: uuid.UUID | None = None,
        channel: Channel = Channel.BACKOFFICE,
        add_seats_if_not_available: bool = False,
    ) -> tuple[Envelope[Message], list[Envelope[Message]]]:
        """Send a ``HoldSeats``; returns the command and what it published."""
        reservation_id = reservation_id or uuid.uuid4()
        envelope = command(
            HoldSeats(
                event_id=uuid.UUID(str(event_id)),
                reservation_id=reservation_id,
                channel=channel,
                add_seats_if_not_available=add_seats_if_not_available,
                lines=list(lines),
            ),
            correlationid=str(reservation_id),
        )
        return envelope, await self.deliver(envelope)

    async def confirm(
        self, event_id: uuid.UUID | str, reservation_id: uuid.UUID
    ) -> list[Envelope[Message]]:
        """Send a ``ConfirmSeats``; returns what it published."""
        data = ConfirmSeats(event_id=uuid.UUID(str(event_id)), reservation_id=reservation_id)
        return await self.deliver(command(data, correlationid=str(reservation_id)))

    async def release(
        self, event_id: uuid.UUID | str, reservation_id: uuid.UUID, reason: str = "cancelled"
    ) -> list[Envelope[Message]]:
        """Send a ``ReleaseSeats``; returns what it published."""
        data = ReleaseSeats(
            event_id=uuid.UUID(str(event_id)), reservation_id=reservation_id, reason=reason
        )
        return await self.deliver(command(data, correlationid=str(reservation_id)))

    async def create_event(self, body: dict[str, Any], org: str = "acme") -> dict[str, Any]:
        """``POST /v1/events``, asserting success; returns the event JSON."""
        response = await self.client.post("/v1/events", json=body, headers=auth(org))
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def get_event(self, slug: str, org: str = "acme") -> dict[str, Any]:
        """``GET /v1/events/{slug}``, asserting success; returns the event JSON."""
        response = await self.client.get(f"/v1/events/{slug}", headers=auth(org))
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def state(self) -> dict[str, Any]:
        """Every event and category row as plain values (to compare before/after)."""
        async with self.runtime.sessions() as session:
            events = (await session.scalars(select(Event).order_by(Event.slug))).all()
            categories = (
                await session.scalars(
                    select(TicketCategory).order_by(
                        TicketCategory.event_id, TicketCategory.position
                    )
                )
            ).all()
            return {
                "events": [_row(event) for event in events],
                "categories": [_row(category) for category in categories],
            }

    async def assert_invariant(self) -> None:
        """Recompute seat use from the hold rows and assert the invariant."""
        await assert_invariant(self.runtime.sessions)


def _row(instance: Any) -> dict[str, Any]:
    return {column.key: getattr(instance, column.key) for column in instance.__table__.columns}


def by_type(messages: Iterable[Envelope[Message]], kind: type[Message]) -> list[Any]:
    """The data of the messages of one type."""
    return [message.data for message in messages if isinstance(message.data, kind)]


def outcome(messages: list[Envelope[Message]]) -> SeatsHeld | SeatsRefused:
    """The single hold outcome among published messages."""
    outcomes = [m.data for m in messages if isinstance(m.data, SeatsHeld | SeatsRefused)]
    assert len(outcomes) == 1, outcomes
    return outcomes[0]


def seats_held(messages: list[Envelope[Message]]) -> SeatsHeld:
    """The hold outcome among published messages, asserting the seats are held."""
    answer = outcome(messages)
    assert isinstance(answer, SeatsHeld), answer
    return answer


def seats_refused(messages: list[Envelope[Message]]) -> SeatsRefused:
    """The hold outcome among published messages, asserting the hold was refused."""
    answer = outcome(messages)
    assert isinstance(answer, SeatsRefused), answer
    return answer


async def assert_invariant(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Assert the inventory invariant, recomputing held and sold from the hold lines.

    For every category: the stored counters equal the sum of the lines of holds in
    that status, and a bounded one has held + sold <= max_seats. For every event:
    sum(bounded max_seats) + sum(dynamic held + sold) <= capacity.
    """
    async with sessions() as session:
        events = (await session.scalars(select(Event))).all()
        categories = (await session.scalars(select(TicketCategory))).all()
        lines = (
            await session.execute(
                select(Hold.status, HoldLineRow.category_id, HoldLineRow.quantity).join(
                    HoldLineRow, HoldLineRow.reservation_id == Hold.reservation_id
                )
            )
        ).all()
    used: dict[tuple[uuid.UUID, HoldStatus], int] = defaultdict(int)
    for status, category_id, quantity in lines:
        used[(category_id, HoldStatus(status))] += quantity
    allocated: dict[uuid.UUID, int] = defaultdict(int)
    for category in categories:
        held = used[(category.id, HoldStatus.HELD)]
        sold = used[(category.id, HoldStatus.SOLD)]
        assert (category.held, category.sold) == (held, sold), (
            f"{category.name}: counters {category.held}/{category.sold}, lines {held}/{sold}"
        )
        if category.max_seats is not None:
            assert held + sold <= category.max_seats, f"{category.name} oversold"
            allocated[category.event_id] += category.max_seats
        else:
            allocated[category.event_id] += held + sold
    for event in events:
        assert allocated[event.id] <= event.capacity, (
            f"{event.slug}: {allocated[event.id]} allocated > capacity {event.capacity}"
        )
