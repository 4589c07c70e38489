"""Dependencies shared by the HTTP routers of every service."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
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


def threadpool_calls(app: FastAPI) -> list[str]:
    """The endpoints and dependencies of ``app`` that FastAPI runs in its thread pool.

    A plain ``def`` costs a hand-off to a worker thread and back on every request;
    on the request path everything here is ``async def``.
    """

    def runs_in_thread(call: Any) -> bool:
        if inspect.isclass(call):
            return True  # FastAPI instantiates a class dependency in the pool
        target = call if inspect.isroutine(call) else getattr(call, "__call__", call)  # noqa: B004
        return not (inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target))

    found: set[str] = set()

    def visit(dependant: Dependant, where: str) -> None:
        if dependant.call is not None and runs_in_thread(dependant.call):
            found.add(f"{where}: {getattr(dependant.call, '__qualname__', dependant.call)}")
        for sub in dependant.dependencies:
            visit(sub, where)

    for route in api_routes(app):
        visit(route.dependant, f"{sorted(route.methods or ())} {route.path}")
    return sorted(found)


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every FastAPI route of ``app``, included routers and mounts opened."""
    found: list[APIRoute] = []

    def walk(routes: list[Any]) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                found.append(route)
            elif hasattr(route, "original_router"):
                walk(route.original_router.routes)
            elif hasattr(route, "routes"):
                walk(route.routes)

    walk(app.routes)
    return found
