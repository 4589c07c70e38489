"""Dependencies shared by the HTTP routers of every service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, committed when the endpoint returns normally.

    Runs with ``scope="function"`` so the commit happens before the response is
    sent: a client never sees a success that was not stored.
    """
    async with request.app.state.runtime.sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]
"""The request's database session (services never commit; this dependency does)."""
