"""Waiting for a condition in tests and tools: poll with a deadline, never a fixed sleep."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def eventually(
    check: Callable[[], Awaitable[T | None]],
    *,
    within: float = ...,
    what: str = ...,
    interval: float = ...,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T | None],
    *,
    within: float = ...,
    what: str = ...,
    interval: float = ...,
) -> T: ...


async def eventually(
    check: Callable[[], Any],
    *,
    within: float = 30.0,
    what: str = "",
    interval: float = 0.02,
) -> Any:
    """Call ``check`` (sync or async) until it returns a truthy value, and return it.

    Raises:
        AssertionError: the value stayed falsy for ``within`` seconds.
    """
    deadline = time.monotonic() + within
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within}s: {what}")
        await asyncio.sleep(interval)
