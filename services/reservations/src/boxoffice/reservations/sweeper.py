"""The expiry sweeper: the only authority that expires reservations."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.chassis.runtime import BackgroundTask
from boxoffice.reservations.models import Reservation
from boxoffice.reservations.service import ReservationService

logger = logging.getLogger(__name__)


async def sweep_once(
    sessions: async_sessionmaker[AsyncSession],
    service: ReservationService,
    *,
    observe_lag: Callable[[float], None] | None = None,
) -> int:
    """Expire one batch of overdue reservations in one transaction; how many expired.

    ``observe_lag`` is told, for each, how late it was expired (seconds past expiry).
    """
    async with sessions.begin() as session:
        expired = await service.expire_overdue(session)
        if observe_lag is not None:
            now = service.now()
            for reservation_id in expired:
                # Loaded by expire_overdue: answered from the identity map, no query.
                reservation = await session.get(Reservation, reservation_id)
                if reservation is not None:
                    observe_lag(max(0.0, (now - reservation.expires_at).total_seconds()))
    if expired:
        logger.info("reservations expired", extra={"count": len(expired)})
    return len(expired)


def expiry_sweeper(
    sessions: async_sessionmaker[AsyncSession],
    service: ReservationService,
    *,
    interval: float,
    batch_size: int,
    observe_lag: Callable[[float], None] | None = None,
) -> BackgroundTask:
    """A background task sweeping every ``interval`` seconds (sooner while batches are full)."""

    async def run() -> None:
        while True:
            try:
                while await sweep_once(sessions, service, observe_lag=observe_lag) >= batch_size:
                    pass
            except Exception:
                logger.exception("expiry sweep failed; trying again at the next interval")
            await asyncio.sleep(interval)

    return run
