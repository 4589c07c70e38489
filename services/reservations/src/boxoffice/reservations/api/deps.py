"""What the routers need from the app: settings, sessions, the service, wake-ups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.reservations.ratelimit import RateLimiter
from boxoffice.reservations.service import ReservationService
from boxoffice.reservations.settings import Settings
from boxoffice.reservations.waiting import OutcomeSignals


@dataclass(frozen=True)
class ReservationsContext:
    """The parts of the reservations app its routers use."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    service: ReservationService
    signals: OutcomeSignals
    public_limiter: RateLimiter


async def _context(request: Request) -> ReservationsContext:
    # async: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop
    # on every request.
    context: ReservationsContext = request.app.state.reservations
    return context


ContextDep = Annotated[ReservationsContext, Depends(_context)]
