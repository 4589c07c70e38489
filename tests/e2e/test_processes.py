"""The services as separate processes on PostgreSQL: they boot, crash and recover."""

from __future__ import annotations

import httpx

from boxoffice.devstack.stack import SERVICES, Stack


async def test_every_service_is_ready_and_comes_back_after_a_crash(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=5.0) as client:
        for name in SERVICES:
            ready = await client.get(f"{stack.url(name)}/health/ready")
            assert ready.status_code == 200
            assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
            live = await client.get(f"{stack.url(name)}/health/live")
            assert live.json() == {"status": "ok"}
        for name in SERVICES:
            stack.processes[name][0].kill()
            try:
                await client.get(f"{stack.url(name)}/health/live")
                raise AssertionError(f"{name} still answers after SIGKILL")
            except httpx.ConnectError:
                pass
            await stack.restart(name)
            ready = await client.get(f"{stack.url(name)}/health/ready")
            assert ready.status_code == 200
