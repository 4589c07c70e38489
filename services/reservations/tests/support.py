"""Test support: settings, tokens, an in-process harness and a fake inventory.

Imported by the tests as ``services.reservations.tests.support`` (pytest's importlib
mode registers the rootdir-relative package).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from boxoffice.chassis.runtime import ServiceRuntime
from boxoffice.contracts import (
    CategoryUpserted,
    Envelope,
    EventUpserted,
    HeldLine,
    HoldSeats,
    Message,
    RefusalReason,
    RefusedLine,
    SeatsHeld,
    SeatsRefused,
    Topic,
    Visibility,
    parse_envelope,
)
from boxoffice.devstack.polling import eventually as eventually
from boxoffice.devstack.token import mint_token
from boxoffice.reservations.api.deps import ReservationsContext
from boxoffice.reservations.handlers import (
    inventory_events_handler,
    notifications_events_handler,
    payments_events_handler,
    prepare_inventory_events,
    reservations_commands_handler,
)
from boxoffice.reservations.models import CategoryReplica, messaging_tables
from boxoffice.reservations.settings import Settings

JWT_SECRET = "reservations-tests-secret-of-at-least-32-bytes"
INVENTORY = "boxoffice.inventory"
ORG = "example-org"
PUBLIC_BASE_URL = "https://tickets.example.org"

START = datetime(2030, 3, 10, 15, 0, tzinfo=UTC)
"""The fixed "now" of the in-process tests (16:00 in Zurich)."""


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for a test instance (fast consumer settings, a test JWT secret)."""
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "jwt_secret": JWT_SECRET,
        "public_base_url": PUBLIC_BASE_URL,
        "create_wait_seconds": 10.0,
        "outcome_poll_seconds": 0.05,
        "kafka_session_timeout_ms": 2000,
        "kafka_heartbeat_interval_ms": 600,
        "kafka_fetch_max_wait_ms": 20,
        "log_json": False,
    }
    values.update(overrides)
    return Settings(**values)


def auth(org: str = ORG, sub: str = "organizer@example.org") -> dict[str, str]:
    """Authorization header of a user of ``org``."""
    token = mint_token(JWT_SECRET, sub=sub, org=org, roles=["organizer"], ttl=timedelta(hours=1))
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        """Move time forward."""
        self.now += delta


@dataclass(frozen=True)
class SeedEvent:
    """The user guide's "My Awesome Event" as replicated from inventory."""

    event_id: uuid.UUID
    slug: str
    general_admission: uuid.UUID
    speakers: uuid.UUID
    team: uuid.UUID


def inventory_envelope(data: Message) -> Envelope[Message]:
    """An envelope as inventory publishes it."""
    return Envelope.wrap(data, source=INVENTORY, subject=str(getattr(data, "event_id", "")))


def event_upserted(
    event_id: uuid.UUID, *, slug: str, org: str = ORG, version: int = 1, **changes: Any
) -> EventUpserted:
    """An ``EventUpserted`` of the guide's event (200 seats, Europe/Zurich, EUR)."""
    values: dict[str, Any] = {
        "event_id": event_id,
        "organization": org,
        "slug": slug,
        "name": "My Awesome Event",
        "currency": "EUR",
        "timezone": "Europe/Zurich",
        "starts_at": datetime(2030, 5, 4, 7, 0, tzinfo=UTC),
        "ends_at": datetime(2030, 5, 4, 16, 0, tzinfo=UTC),
        "capacity": 200,
        "public_reservation_limit": 5,
        "version": version,
    }
    values.update(changes)
    return EventUpserted(**values)


def category_upserted(
    event_id: uuid.UUID,
    category_id: uuid.UUID,
    name: str,
    price_minor: int,
    max_seats: int | None,
    *,
    visibility: Visibility = Visibility.HIDDEN,
    version: int = 1,
) -> CategoryUpserted:
    """A ``CategoryUpserted`` with nothing held or sold."""
    return CategoryUpserted(
        event_id=event_id,
        category_id=category_id,
        name=name,
        visibility=visibility,
        price_minor=price_minor,
        max_seats=max_seats,
        held=0,
        sold=0,
        version=version,
    )


HoldAnswer = Literal["hold", "refuse", "ignore"]


@dataclass
class Harness:
    """A migrated reservations app driven in-process: HTTP via ASGI, messages via handlers."""

    app: FastAPI
    clock: Clock
    client: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://reservations"
        )

    @property
    def runtime(self) -> ServiceRuntime:
        """The app's runtime (never started: no broker in these tests)."""
        runtime: ServiceRuntime = self.app.state.runtime
        return runtime

    @property
    def context(self) -> ReservationsContext:
        """What the routers use: settings, sessions, service, wake-ups."""
        context: ReservationsContext = self.app.state.reservations
        return context

    async def deliver(self, envelope: Envelope[Message]) -> bool:
        """Apply a consumed message as the consumer does; False if a duplicate."""
        topic = envelope.data.topic
        handler = {
            Topic.INVENTORY_EVENTS: inventory_events_handler,
            Topic.NOTIFICATIONS_EVENTS: notifications_events_handler,
            Topic.RESERVATIONS_COMMANDS: reservations_commands_handler,
            Topic.PAYMENTS_EVENTS: payments_events_handler,
        }[topic](self.context.service)
        async with self.runtime.sessions.begin() as session:
            if not await self.runtime.inbox.claim(session, envelope, topic):
                return False
            await handler(envelope, session)
        return True

    async def deliver_inventory_batch(self, envelopes: list[Envelope[Message]]) -> None:
        """Apply ``inventory.events`` messages as one fetched batch, as the consumer does."""
        await self.runtime.consumer.apply_batch(
            Topic.INVENTORY_EVENTS,
            envelopes,
            inventory_events_handler(self.context.service),
            prepare_inventory_events,
        )

    async def seed_event(self, *, org: str = ORG, slug: str = "my-awesome-event") -> SeedEvent:
        """Replicate the guide's event and its three categories."""
        seed = SeedEvent(uuid.uuid4(), slug, uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
        await self.deliver(inventory_envelope(event_upserted(seed.event_id, slug=slug, org=org)))
        for category_id, name, price, max_seats, visibility in (
            (seed.general_admission, "General Admission", 10000, None, Visibility.PUBLIC),
            (seed.speakers, "Speakers", 0, 10, Visibility.HIDDEN),
            (seed.team, "Team", 0, 5, Visibility.HIDDEN),
        ):
            await self.deliver(
                inventory_envelope(
                    category_upserted(
                        seed.event_id, category_id, name, price, max_seats, visibility=visibility
                    )
                )
            )
        return seed

    async def messages(self, message_type: type[Message] | None = None) -> list[Message]:
        """The messages in the outbox, oldest first, optionally of one type."""
        table = messaging_tables.outbox
        async with self.runtime.sessions() as session:
            rows = (await session.execute(select(table).order_by(table.c.id))).all()
        found = []
        for row in rows:
            contract_topic = row.topic.removesuffix(self.context.settings.kafka_topic_suffix)
            data = parse_envelope(contract_topic, row.payload).data
            if message_type is None or isinstance(data, message_type):
                found.append(data)
        return found

    async def hold_commands(self) -> list[HoldSeats]:
        """The ``HoldSeats`` commands sent so far."""
        return [m for m in await self.messages(HoldSeats) if isinstance(m, HoldSeats)]

    async def answer(self, hold: HoldSeats, answer: HoldAnswer) -> None:
        """Play inventory: hold or refuse the seats of ``hold``."""
        if answer == "ignore":
            return
        await self.deliver(inventory_envelope(await self.outcome(hold, answer)))

    async def outcome(self, hold: HoldSeats, answer: HoldAnswer) -> SeatsHeld | SeatsRefused:
        """What inventory would answer to ``hold``."""
        if answer == "refuse":
            return SeatsRefused(
                event_id=hold.event_id,
                reservation_id=hold.reservation_id,
                reason=RefusalReason.NOT_ENOUGH_SEATS,
                message="not enough seats",
                lines=[
                    RefusedLine(
                        line_index=index,
                        category_id=line.category_id,
                        asked=line.quantity,
                        available=0,
                    )
                    for index, line in enumerate(hold.lines)
                ],
            )
        lines = []
        async with self.runtime.sessions() as session:
            for index, line in enumerate(hold.lines):
                if line.category_id is not None:
                    category = await session.get(CategoryReplica, line.category_id)
                    assert category is not None
                    lines.append(
                        HeldLine(
                            line_index=index,
                            category_id=category.id,
                            category_name=category.name,
                            quantity=line.quantity,
                            unit_price_minor=category.price_minor,
                        )
                    )
                else:
                    assert line.new_category is not None
                    lines.append(
                        HeldLine(
                            line_index=index,
                            category_id=uuid.uuid4(),
                            category_name=line.new_category.name,
                            quantity=line.quantity,
                            unit_price_minor=line.new_category.price_minor,
                            category_created=True,
                        )
                    )
        for held in lines:
            if held.category_created:
                await self.deliver(
                    inventory_envelope(
                        category_upserted(
                            hold.event_id,
                            held.category_id,
                            held.category_name,
                            held.unit_price_minor,
                            held.quantity,
                        )
                    )
                )
        return SeatsHeld(
            event_id=hold.event_id,
            reservation_id=hold.reservation_id,
            currency="EUR",
            lines=lines,
        )

    @asynccontextmanager
    async def inventory(self, answer: HoldAnswer = "hold") -> AsyncIterator[None]:
        """Play inventory in the background: answer every new ``HoldSeats`` with ``answer``."""
        answered = len(await self.hold_commands())

        async def play() -> None:
            nonlocal answered
            while True:
                holds = await self.hold_commands()
                for hold in holds[answered:]:
                    await self.answer(hold, answer)
                answered = len(holds)
                await asyncio.sleep(0.01)

        task = asyncio.create_task(play())
        try:
            yield
        finally:
            task.cancel()
            [outcome] = await asyncio.gather(task, return_exceptions=True)
        if not isinstance(outcome, asyncio.CancelledError):
            raise AssertionError("the fake inventory failed") from outcome

    async def with_inventory(
        self, request: Awaitable[httpx.Response], answer: HoldAnswer
    ) -> httpx.Response:
        """Send ``request`` while inventory answers new holds with ``answer``."""
        async with self.inventory(answer):
            return await request

    async def create(
        self,
        seed: SeedEvent,
        body: dict[str, Any],
        *,
        answer: HoldAnswer = "hold",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST a reservation while inventory answers its hold with ``answer``."""
        async with self.inventory(answer):
            return await self.client.post(
                f"/v1/events/{seed.slug}/reservations", json=body, headers=headers or auth()
            )


def example_1_body(seed: SeedEvent) -> dict[str, Any]:
    """The guide's Example 1: Jane Doe, 9 empty GA seats and 1 free "Group discount" seat."""
    return {
        "contact": {
            "first_name": "Jane",
            "last_name": "Doe",
            "email": "jane.doe@example.org",
            "company": "Example Org.",
        },
        "items": [
            {"category": {"id": str(seed.general_admission)}, "empty_seats": 9},
            {"category": {"new": {"name": "Group discount", "price": "0.00"}}, "empty_seats": 1},
        ],
    }


def example_2_body(seed: SeedEvent) -> dict[str, Any]:
    """The guide's Example 2: the five organizers in the Team category."""
    return {
        "contact": {
            "first_name": "Olivia",
            "last_name": "Organizer",
            "email": "olivia@example.org",
        },
        "items": [
            {
                "category": {"id": str(seed.team)},
                "attendees": [
                    {
                        "first_name": name,
                        "last_name": "Team",
                        "email": f"{name.lower()}@example.org",
                    }
                    for name in ("Olivia", "Paul", "Quinn", "Rita", "Sam")
                ],
            }
        ],
    }
