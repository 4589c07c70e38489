"""Fixtures of the notifications tests (the databases and the broker come from the root)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.notifications.tests.support import SmtpRecorder, smtp_server


@pytest.fixture
async def smtp() -> AsyncIterator[tuple[SmtpRecorder, int]]:
    """A real SMTP server for one test: its recorder and port."""
    async with smtp_server() as server:
        yield server
