"""PostgreSQL LISTEN/NOTIFY: wake another process at a commit instead of polling.

A writer adds :func:`notify` to its transaction; PostgreSQL delivers the notification
when (and only if) the transaction commits. A process that waits on the channel runs
:func:`listener` as a background task. SQLite has no such thing: there the listener
returns at once and waiters rely on their in-process wake-ups and fallback polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

logger = logging.getLogger(__name__)

OnPayload = Callable[[str], None]
"""Called with each notification's payload, on the event loop."""


async def notify(session: AsyncSession, channel: str, payload: str = "") -> None:
    """Queue a notification on ``channel``; it is delivered when the transaction commits."""
    await session.execute(select(func.pg_notify(channel, payload)))


async def _listen_until_disconnected(
    engine: AsyncEngine, channel: str, on_payload: OnPayload
) -> None:
    def on_notification(_connection: object, _pid: int, _channel: str, payload: str) -> None:
        on_payload(payload)

    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None  # noqa: S101 - an open asyncpg connection
        lost = asyncio.Event()
        driver.add_termination_listener(lambda _connection: lost.set())
        await driver.add_listener(channel, on_notification)
        try:
            await lost.wait()
        finally:
            with contextlib.suppress(Exception):
                await driver.remove_listener(channel, on_notification)


def listener(
    engine: AsyncEngine, channel: str, on_payload: OnPayload, *, retry_seconds: float = 1.0
) -> Callable[[], Coroutine[Any, Any, None]]:
    """A background task calling ``on_payload`` for every notification on ``channel``.

    It holds one pooled connection for as long as it runs and reconnects after a
    database outage (notifications sent meanwhile are lost: callers keep a fallback
    poll for that).
    """

    async def listen() -> None:
        if engine.dialect.name != "postgresql":
            return
        while True:
            try:
                await _listen_until_disconnected(engine, channel, on_payload)
            except Exception:
                logger.warning(
                    "listener lost its connection; reconnecting", extra={"channel": channel}
                )
            await asyncio.sleep(retry_seconds)

    return listen
