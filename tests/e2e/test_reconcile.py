"""The operators' reconcile command on the real system: clean after traffic, and a
tampered counter is reported (exit code 1)."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from boxoffice.devstack.stack import Stack, eventually
from boxoffice.ops.reconcile import reconcile


async def _run_cli(stack: Stack) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "boxoffice.ops",
        "reconcile",
        "--inventory-db",
        stack.database_urls["inventory"],
        "--reservations-db",
        stack.database_urls["reservations"],
        "--notifications-db",
        stack.database_urls["notifications"],
        "--settle",
        "1",
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_reconcile_is_clean_after_traffic_and_reports_a_mismatch(stack: Stack) -> None:
    starts = datetime.now(UTC) + timedelta(days=10)
    async with httpx.AsyncClient(timeout=15) as client:
        event = await client.post(
            f"{stack.url('inventory')}/v1/events",
            json={
                "slug": "reconciled",
                "name": "Reconciled",
                "currency": "EUR",
                "timezone": "Europe/Paris",
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=3)).isoformat(),
                "capacity": 50,
                "categories": [
                    {"name": "Seat", "visibility": "public", "price": "5.00", "max_seats": None}
                ],
            },
            headers=stack.headers(),
        )
        assert event.status_code == 201, event.text
        category_id = event.json()["categories"][0]["id"]
        url = f"{stack.url('reservations')}/v1/events/reconciled/reservations"
        body = {
            "contact": {"first_name": "Rita", "last_name": "Count", "email": "rita@example.org"},
            "items": [{"category": {"id": category_id}, "empty_seats": 3}],
        }

        async def created() -> httpx.Response | None:
            response = await client.post(url, json=body, headers=stack.headers())
            return response if response.status_code == 201 else None

        first: httpx.Response = await eventually(created, within=30, what="first reservation")
        second: httpx.Response = await eventually(created, within=30, what="second reservation")
        cancelled = await client.post(
            f"{stack.url('reservations')}/v1/reservations/{second.json()['id']}/cancel",
            headers=stack.headers(),
        )
        assert cancelled.status_code == 200, cancelled.text
        assert first.json()["status"] == "PENDING"

    report = await reconcile(
        stack.database_urls["inventory"], stack.database_urls["reservations"], settle=15
    )
    assert report.clean, report.render()
    assert report.categories_checked == 1
    assert report.reservations_checked == 2
    assert await _run_cli(stack) == (0, report.render() + "\n")

    connection = await asyncpg.connect(
        stack.database_urls["inventory"].replace("postgresql+asyncpg", "postgresql")
    )
    try:
        await connection.execute("UPDATE ticket_categories SET held = held + 1")
    finally:
        await connection.close()
    code, output = await _run_cli(stack)
    assert code == 1
    assert "inventory holds 4 (held 4 + sold 0), reservations have 3 tickets" in output
