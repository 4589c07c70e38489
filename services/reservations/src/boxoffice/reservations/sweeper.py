"""The expiry sweeper: the only authority that expires reservations."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.chassis.runtime import BackgroundTask
from boxoffice.reservations.service import ReservationService

logger = logging.getLogger(__name__)


async def sweep_once(
    sessions: async_sessionmaker[AsyncSession], service: ReservationService
) -> int:
    """Expire one batch of overdue reservations in one transaction; how many expired."""
    async with sessions.begin() as session:
        expired = await service.expire_overdue(session)
    if expired:
        logger.info("reservations expired", extra={"count": len(expired)})
    return len(expired)


def expiry_sweeper(
    sessions: async_sessionmaker[AsyncSession],
    service: ReservationService,
    *,
    interval: float,
    batch_size: int,
) -> BackgroundTask:
    """A background task sweeping every ``interval`` seconds (sooner while batches are full)."""

    async def run() -> None:
        while True:
            try:
                while await sweep_once(sessions, service) >= batch_size:
                    pass
            except Exception:
                logger.exception("expiry sweep failed; trying again at the next interval")
            await asyncio.sleep(interval)

    return run
