"""Throughput of ticket emails: queue N tickets, time until a local SMTP sink has them all.

Measures the whole path of the service minus the broker: the command handler queues
the emails in one transaction, the dispatcher claims, renders (HTML, text, PDF with
QR code, ICS), sends over SMTP and records each one with its ``EmailSent``.

Run from the repository root::

    .venv/bin/python services/notifications/bench_emails.py [--emails 200]
        [--database-url postgresql+asyncpg://.../an_empty_database] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import socket
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from boxoffice.chassis.migrations import upgrade_to_head
from boxoffice.chassis.settings import Environment
from boxoffice.chassis.ticket_codes import TicketCode, sign_ticket_code
from boxoffice.contracts import Envelope, EventInfo, SendTickets, TicketEmail, Topic
from boxoffice.notifications.app import MIGRATIONS, build_notifications
from boxoffice.notifications.models import Email, EmailStatus
from boxoffice.notifications.settings import Settings


class CountingSink:
    """An SMTP handler that accepts and counts every message."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.count += 1
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _command(count: int) -> Envelope[SendTickets]:
    event = EventInfo(
        event_id=uuid.uuid4(),
        slug="bench",
        name="Benchmark Conference",
        timezone="Europe/Zurich",
        starts_at=datetime(2026, 3, 14, 18, 30, tzinfo=UTC),
        ends_at=datetime(2026, 3, 14, 22, 0, tzinfo=UTC),
        organization="bench",
        location="Zürich",
    )
    reservation_id = uuid.uuid4()
    tickets = []
    for number in range(count):
        ticket_id = uuid.uuid4()
        tickets.append(
            TicketEmail(
                email_id=uuid.uuid4(),
                ticket_id=ticket_id,
                ticket_code=sign_ticket_code(
                    secrets.token_urlsafe(32),
                    TicketCode(ticket_id, reservation_id, event.event_id),
                ),
                category_name="General Admission",
                attendee_first_name="Attendee",
                attendee_last_name=f"Number {number}",
                attendee_email=f"attendee{number}@example.org",
                language=("en", "de", "it")[number % 3],
            )
        )
    return Envelope.wrap(
        SendTickets(
            reservation_id=reservation_id, event=event, requested_by="bench", tickets=tickets
        ),
        source="bench",
    )


async def bench(count: int, database_url: str, concurrency: int) -> float:
    """Seconds from handling the command until every email is sent and recorded."""
    sink = CountingSink()
    port = _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings = Settings(
        environment=Environment.TEST,
        jwt_secret=secrets.token_urlsafe(32),
        database_url=database_url,
        smtp_port=port,
        smtp_concurrency=concurrency,
    )
    notifications = build_notifications(settings)
    runtime = notifications.runtime
    await upgrade_to_head(runtime.engine, MIGRATIONS)
    dispatcher = asyncio.create_task(notifications.dispatcher.run())
    command = _command(count)
    topic = settings.topic(Topic.NOTIFICATIONS_COMMANDS)
    try:
        started = time.perf_counter()
        async with runtime.sessions.begin() as session:
            await runtime.inbox.claim(session, command, topic)
            await notifications.handle_command(command, session)
        while True:
            async with runtime.sessions() as session:
                sent = await session.scalar(
                    select(func.count()).where(Email.status == EmailStatus.SENT)
                )
            if sent == count and sink.count == count:
                return time.perf_counter() - started
            await asyncio.sleep(0.01)
    finally:
        dispatcher.cancel()
        await asyncio.gather(dispatcher, return_exceptions=True)
        await runtime.engine.dispose()
        controller.stop()


def main() -> None:
    """Parse arguments, run once, print the time."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--emails", type=int, default=200)
    parser.add_argument(
        "--database-url",
        default=None,
        help="an EMPTY database (it is migrated); default: a temporary SQLite file",
    )
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        seconds = asyncio.run(bench(args.emails, url, args.concurrency))
    print(
        f"{args.emails} ticket emails sent in {seconds:.2f} s "
        f"({args.emails / seconds:.0f}/s, concurrency {args.concurrency})"
    )


if __name__ == "__main__":
    main()
