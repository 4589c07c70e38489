"""How a request waits for inventory's answer about its own reservation.

The answer may be consumed by this process (then the consumer's commit wakes the request
at once) or by another replica (then a short poll of the row notices it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from boxoffice.chassis import pg_notify
from boxoffice.reservations import repository
from boxoffice.reservations.models import Reservation, ReservationStatus

logger = logging.getLogger(__name__)


class Watch(asyncio.Event):
    """Set when a watched reservation's wait for seats has ended.

    ``settled`` is the reservation as this process's consumer committed it (lines and
    tickets loaded) when the wake-up came from there: the waiting request can answer
    from it without reading the row again. None after another replica's commit or
    the poll.
    """

    def __init__(self) -> None:
        super().__init__()
        self.settled: Reservation | None = None


class OutcomeSignals:
    """Wake-ups of requests waiting for inventory's answer, keyed by reservation id.

    Three sources set them: this process's consumer (``notify`` after its commit), the
    PostgreSQL listener (another replica's commit), and one shared poll that asks the
    database, in a single query per interval, which watched reservations are settled —
    the fallback when neither signal reaches us. The poll runs only while someone
    waits, so an idle replica queries nothing.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession] | None = None,
        *,
        poll_interval: Callable[[], float] = lambda: 0.05,
    ) -> None:
        self._sessions = sessions
        self._poll_interval = poll_interval
        self._waiting: defaultdict[uuid.UUID, set[Watch]] = defaultdict(set)
        self._poller: asyncio.Task[None] | None = None

    def notify(self, reservation_id: uuid.UUID, settled: Reservation | None = None) -> None:
        """Wake every request waiting on this reservation (called after a commit).

        ``settled``: the committed reservation, when the caller has it loaded.
        """
        for signal in self._waiting.get(reservation_id, ()):
            if settled is not None:
                signal.settled = settled
            signal.set()

    @contextlib.contextmanager
    def watch(self, reservation_id: uuid.UUID) -> Iterator[Watch]:
        """A wake-up set when the reservation's wait for seats has ended.

        Watching before the transaction that asks for the seats commits sees every
        answer: nothing needs to be read first.
        """
        signal = Watch()
        self._waiting[reservation_id].add(signal)
        if self._sessions is not None and (self._poller is None or self._poller.done()):
            self._poller = asyncio.create_task(self._poll(self._sessions), name="outcome-poll")
        try:
            yield signal
        finally:
            watchers = self._waiting.get(reservation_id)
            if watchers is not None:
                watchers.discard(signal)
                if not watchers:
                    del self._waiting[reservation_id]

    async def _poll(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        while self._waiting:
            await asyncio.sleep(self._poll_interval())  # the fallback's period, not a sync
            watched = list(self._waiting)
            if not watched:
                return
            try:
                async with sessions() as session:
                    settled = await repository.settled_reservations(session, watched)
            except Exception:
                logger.warning("outcome poll failed; trying again")
                continue
            for reservation_id in settled:
                self.notify(reservation_id)


async def wait_for_seats_outcome(
    sessions: async_sessionmaker[AsyncSession],
    signals: OutcomeSignals,
    reservation_id: uuid.UUID,
    *,
    within: float,
    read_after: bool = True,
) -> ReservationStatus | None:
    """Wait until the reservation leaves AWAITING_SEATS or ``within`` seconds pass.

    Args:
        read_after: read the status once the wait is over; a caller that loads the
            whole reservation next passes False and saves the query.

    Returns:
        The last status read (still ``AWAITING_SEATS`` on timeout; None when the
        reservation does not exist, or after the wait without ``read_after``).
    """
    with signals.watch(reservation_id) as signal:
        async with sessions() as session:
            status = await repository.reservation_status(session, reservation_id)
        if status != ReservationStatus.AWAITING_SEATS:
            return status
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await signal.wait()
        if not read_after:
            return None
        async with sessions() as session:
            return await repository.reservation_status(session, reservation_id)


def outcome_listener(
    engine: AsyncEngine, signals: OutcomeSignals, *, retry_seconds: float = 1.0
) -> Callable[[], Coroutine[Any, Any, None]]:
    """A background task relaying PostgreSQL notifications to this process's waiters.

    Another replica that consumed inventory's answer notifies at its commit; without
    this listener the waiting request would still notice on its next poll.
    """

    def on_payload(payload: str) -> None:
        for reservation_id in payload.split(","):
            with contextlib.suppress(ValueError):
                signals.notify(uuid.UUID(reservation_id))

    return pg_notify.listener(
        engine, repository.OUTCOME_CHANNEL, on_payload, retry_seconds=retry_seconds
    )
