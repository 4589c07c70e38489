"""Scenario 1: kill -9 of inventory, then reservations, then notifications, each in the
middle of a burst of creates / completes / send-tickets; every service restarts, every
reservation ends in a legal state, no seat is leaked or held twice (reconcile is
clean), and every requested ticket email arrives (once per email id)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from boxoffice.devstack.stack import Stack, eventually
from boxoffice.ops.reconcile import reconcile

BURST = 300


async def _call(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """What a patient client does: retry while the service is down or failing."""
    deadline = time.monotonic() + 90
    while True:
        try:
            response = await client.request(method, url, **kwargs)
            if response.status_code < 500:
                return response
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{method} {url} kept failing")
        await asyncio.sleep(0.2)


async def _crash_during(stack: Stack, service: str, burst: Any) -> list[httpx.Response]:
    """Run the burst; SIGKILL ``service`` once a third of it is under way; restart it."""
    started = 0

    async def counted(call: Any) -> httpx.Response:
        nonlocal started
        started += 1
        result: httpx.Response = await call
        return result

    calls = [asyncio.ensure_future(counted(call)) for call in burst]
    await eventually(lambda: started >= len(calls) // 3, within=30, what="burst under way")
    stack.processes[service][0].kill()
    await stack.restart(service)
    return list(await asyncio.gather(*calls))


async def test_crashes_mid_burst_lose_nothing(system: Stack) -> None:
    headers = system.headers()
    reservations = system.url("reservations")
    starts = datetime.now(UTC) + timedelta(days=7)
    async with httpx.AsyncClient(timeout=30) as client:
        event = await _call(
            client,
            "POST",
            f"{system.url('inventory')}/v1/events",
            json={
                "slug": "crash-test",
                "name": "Crash test",
                "currency": "EUR",
                "timezone": "Europe/Vienna",
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=4)).isoformat(),
                "capacity": 2 * BURST,
                "categories": [
                    {"name": "Seat", "visibility": "public", "price": "0.00", "max_seats": None}
                ],
            },
            headers=headers,
        )
        assert event.status_code == 201, event.text
        category_id = event.json()["categories"][0]["id"]
        create_url = f"{reservations}/v1/events/crash-test/reservations"

        def body(index: int) -> dict[str, Any]:
            person = {
                "first_name": f"P{index}",
                "last_name": "Crash",
                "email": f"p{index}@c.example",
            }
            return {
                "contact": person,
                "items": [{"category": {"id": category_id}, "attendees": [person]}],
            }

        async def replicated() -> bool:
            probe = await client.post(create_url, json=body(-1), headers=headers)
            return probe.status_code == 201

        await eventually(replicated, within=30, what="event replicated")

        # 1. creates while inventory crashes (each retried with its idempotency key).
        creates = await _crash_during(
            system,
            "inventory",
            [
                _call(
                    client,
                    "POST",
                    create_url,
                    json=body(index),
                    headers={**headers, "Idempotency-Key": f"crash-{index}"},
                )
                for index in range(BURST)
            ],
        )
        assert {response.status_code for response in creates} <= {201, 202}
        ids = [response.json()["id"] for response in creates]

        async def all_pending() -> bool:
            statuses = [
                (
                    await _call(
                        client, "GET", f"{reservations}/v1/reservations/{rid}", headers=headers
                    )
                ).json()["status"]
                for rid in ids
            ]
            return statuses == ["PENDING"] * BURST

        await eventually(all_pending, within=60, what="every reservation PENDING")

        # 2. completes while reservations crashes.
        completes = await _crash_during(
            system,
            "reservations",
            [
                _call(
                    client,
                    "POST",
                    f"{reservations}/v1/reservations/{rid}/complete",
                    headers=headers,
                )
                for rid in ids
            ],
        )
        # A complete retried after the crash may find it already done (409 COMPLETE).
        for response in completes:
            assert response.status_code in (200, 409), response.text
            if response.status_code == 409:
                assert response.json()["error"]["details"]["status"] == "COMPLETE"

        # 3. send-tickets while notifications crashes.
        sends = await _crash_during(
            system,
            "notifications",
            [
                _call(
                    client,
                    "POST",
                    f"{reservations}/v1/reservations/{rid}/send-tickets",
                    json={},
                    headers=headers,
                )
                for rid in ids
            ],
        )
        queued = [email["email_id"] for response in sends for email in response.json()["queued"]]
        assert len(queued) == BURST

        async def emails_settled() -> bool:
            settled = 0
            for rid in ids:
                log = (
                    await _call(
                        client,
                        "GET",
                        f"{reservations}/v1/reservations/{rid}/emails",
                        headers=headers,
                    )
                ).json()
                settled += sum(1 for entry in log if entry["status"] == "sent")
            return settled == BURST

        await eventually(emails_settled, within=120, what="every email sent")

    mail = system.mail
    assert mail is not None
    messages = mail.messages()
    message_ids = Counter(str(message["Message-ID"]) for message in messages)
    # One distinct email per email id; an SMTP accept racing the SIGKILL may repeat one.
    assert len(message_ids) == BURST
    assert len(messages) - BURST <= 8, f"{len(messages) - BURST} repeated mails"

    report = await reconcile(
        system.database_urls["inventory"],
        system.database_urls["reservations"],
        {"notifications": system.database_urls["notifications"]},
        settle=30,
    )
    assert report.clean, report.render()
