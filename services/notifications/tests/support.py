"""Helpers of the notifications tests: settings, commands, an SMTP server, polling."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import uuid
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, TypeVar

from aiosmtpd.controller import Controller
from sqlalchemy import select

from boxoffice.chassis.migrations import upgrade_to_head
from boxoffice.chassis.settings import Environment
from boxoffice.chassis.ticket_codes import TicketCode, sign_ticket_code
from boxoffice.contracts import (
    Contact,
    Envelope,
    EventInfo,
    Message,
    SendReservationLink,
    SendTickets,
    TicketEmail,
    Topic,
    parse_envelope,
)
from boxoffice.devstack.polling import eventually as eventually
from boxoffice.notifications.app import MIGRATIONS, Notifications, build_notifications
from boxoffice.notifications.models import Email, messaging_tables
from boxoffice.notifications.settings import Settings

JWT_SECRET = "notifications-test-secret-of-at-least-32-bytes"
TICKET_CODE_SECRET = "ticket-code-test-key-of-at-least-32-bytes"
COMMANDS_SOURCE = "boxoffice.reservations"

M = TypeVar("M", bound=Message)


def free_port() -> int:
    """A TCP port nobody listens on (right now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_settings(database_url: str, smtp_port: int, **overrides: Any) -> Settings:
    """Settings with tiny backoff and fast polling, pointed at a test SMTP server."""
    values: dict[str, Any] = {
        "environment": Environment.TEST,
        "jwt_secret": JWT_SECRET,
        "service_name": f"notifications-test-{uuid.uuid4().hex[:6]}",
        "database_url": database_url,
        "smtp_port": smtp_port,
        "smtp_timeout_seconds": 5.0,
        "smtp_max_attempts": 3,
        "smtp_retry_base_seconds": 0.01,
        "dispatcher_poll_seconds": 0.02,
        "dispatcher_lease_seconds": 30.0,
        "dispatcher_shutdown_grace_seconds": 2.0,
    }
    values.update(overrides)
    return Settings(**values)


def make_event(*, name: str = "Swiss Python Summit", timezone: str = "Europe/Zurich") -> EventInfo:
    """An event on 14 March 2026, 18:30-22:00 UTC (19:30-23:00 in Zurich)."""
    return EventInfo(
        event_id=uuid.uuid4(),
        slug="summit-2026",
        name=name,
        timezone=timezone,
        starts_at=datetime(2026, 3, 14, 18, 30, tzinfo=UTC),
        ends_at=datetime(2026, 3, 14, 22, 0, tzinfo=UTC),
        organization="acme",
        location="Kongresshaus, Zürich",
    )


def make_ticket(
    event: EventInfo,
    reservation_id: uuid.UUID,
    *,
    first_name: str = "Ada",
    last_name: str = "Lovelace",
    email_address: str | None = None,
    language: str | None = None,
    category: str = "General Admission",
) -> TicketEmail:
    """A ticket with a fresh email id and a code signed with the test key."""
    ticket_id = uuid.uuid4()
    code = sign_ticket_code(
        TICKET_CODE_SECRET,
        TicketCode(ticket_id=ticket_id, reservation_id=reservation_id, event_id=event.event_id),
    )
    return TicketEmail(
        email_id=uuid.uuid4(),
        ticket_id=ticket_id,
        ticket_code=code,
        category_name=category,
        attendee_first_name=first_name,
        attendee_last_name=last_name,
        attendee_email=email_address or f"attendee.{uuid.uuid4().hex[:8]}@example.org",
        language=language,
    )


def send_tickets(
    count: int = 1,
    *,
    event: EventInfo | None = None,
    reservation_id: uuid.UUID | None = None,
    **ticket_fields: Any,
) -> Envelope[SendTickets]:
    """A SendTickets command for ``count`` new tickets, in its envelope."""
    event = event or make_event()
    reservation_id = reservation_id or uuid.uuid4()
    tickets = [make_ticket(event, reservation_id, **ticket_fields) for _ in range(count)]
    return wrap(
        SendTickets(
            reservation_id=reservation_id,
            event=event,
            requested_by="organizer-1",
            tickets=tickets,
        )
    )


def send_reservation_link(*, language: str | None = None) -> Envelope[SendReservationLink]:
    """A SendReservationLink command, in its envelope."""
    return wrap(
        SendReservationLink(
            reservation_id=uuid.uuid4(),
            email_id=uuid.uuid4(),
            event=make_event(),
            contact=Contact(
                first_name="Grace",
                last_name="Hopper",
                email="grace@example.org",
                language=language,
            ),
            share_url="https://boxoffice.example/r/tok3n?x=1&y=2",
            expires_at=datetime(2026, 3, 1, 22, 59, tzinfo=UTC),
            total_minor=123450,
            currency="CHF",
        )
    )


def wrap(command: M) -> Envelope[M]:
    """Put a command in a new envelope, as reservations would."""
    return Envelope.wrap(
        command,
        source=COMMANDS_SOURCE,
        subject=command.partition_key(),
        correlationid=command.partition_key(),
    )


def rewrap(envelope: Envelope[M]) -> Envelope[M]:
    """The same command in an envelope with a new id (a re-published duplicate)."""
    return wrap(envelope.data)


@dataclass
class SmtpRecorder:
    """An aiosmtpd handler that keeps accepted messages and answers scripted replies.

    ``data_replies`` / ``rcpt_replies`` are consumed one per DATA / RCPT command;
    when empty the server accepts.
    """

    data_replies: deque[str] = field(default_factory=deque)
    rcpt_replies: deque[str] = field(default_factory=deque)
    received: list[bytes] = field(default_factory=list)
    data_commands: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self._lock:
            reply = self.rcpt_replies.popleft() if self.rcpt_replies else "250 OK"
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.data_commands += 1
            reply = self.data_replies.popleft() if self.data_replies else "250 OK"
            if reply.startswith("250"):
                self.received.append(bytes(envelope.original_content or envelope.content))
        return reply

    def messages(self) -> list[EmailMessage]:
        """The accepted messages, parsed."""
        with self._lock:
            raw = list(self.received)
        return [email.message_from_bytes(data, policy=email.policy.default) for data in raw]

    def count(self) -> int:
        """How many messages were accepted."""
        with self._lock:
            return len(self.received)


@asynccontextmanager
async def smtp_server() -> AsyncIterator[tuple[SmtpRecorder, int]]:
    """A real SMTP server (aiosmtpd, own thread) on a free port: (recorder, port)."""
    recorder = SmtpRecorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, ready_timeout=10.0)
    await asyncio.to_thread(controller.start)
    try:
        yield recorder, port
    finally:
        await asyncio.to_thread(controller.stop)


@asynccontextmanager
async def notifications_service(
    settings: Settings, *, dispatching: bool = True
) -> AsyncIterator[Notifications]:
    """The service's parts on a migrated database, without the broker.

    With ``dispatching`` the dispatcher runs in the background, as in the service.
    """
    notifications = build_notifications(settings)
    await upgrade_to_head(notifications.runtime.engine, MIGRATIONS)
    task = (
        asyncio.create_task(notifications.dispatcher.run(), name="test-dispatcher")
        if dispatching
        else None
    )
    try:
        yield notifications
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await notifications.runtime.engine.dispose()


async def deliver_command(notifications: Notifications, envelope: Envelope[Any]) -> bool:
    """Apply a command as the chassis consumer does: inbox claim + handler, one transaction.

    Returns False when the inbox dropped it as a duplicate.
    """
    runtime = notifications.runtime
    topic = runtime.settings.topic(Topic.NOTIFICATIONS_COMMANDS)
    async with runtime.sessions.begin() as session:
        if not await runtime.inbox.claim(session, envelope, topic):
            return False
        await notifications.handle_command(envelope, session)
    return True


async def emails(notifications: Notifications) -> list[Email]:
    """Every stored email, oldest first."""
    async with notifications.runtime.sessions() as session:
        return list(
            (await session.scalars(select(Email).order_by(Email.created_at, Email.id))).all()
        )


async def published_events(notifications: Notifications) -> list[Envelope[Message]]:
    """The envelopes written to the outbox, in order."""
    outbox = messaging_tables.outbox
    async with notifications.runtime.sessions() as session:
        rows = (await session.execute(select(outbox.c.payload).order_by(outbox.c.id))).all()
    return [parse_envelope(Topic.NOTIFICATIONS_EVENTS, row.payload) for row in rows]


def event_types(events: Sequence[Envelope[Message]]) -> list[str]:
    """The short type names of events, e.g. ``EmailSent``."""
    return [type(event.data).__name__ for event in events]
