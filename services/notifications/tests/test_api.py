"""The operators' view of the delivery log: ``GET /v1/messages``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from boxoffice.chassis.migrations import upgrade_to_head
from boxoffice.devstack.token import mint_token
from boxoffice.notifications.app import MIGRATIONS, Notifications, create_app
from services.notifications.tests.support import (
    JWT_SECRET,
    SmtpRecorder,
    deliver_command,
    emails,
    eventually,
    make_event,
    make_settings,
    send_tickets,
)


def _headers(org: str = "acme") -> dict[str, str]:
    token = mint_token(
        JWT_SECRET, sub="operator-1", org=org, roles=["organizer"], ttl=timedelta(minutes=5)
    )
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def app(database_url: str, smtp: tuple[SmtpRecorder, int]) -> AsyncIterator[FastAPI]:
    """The service's app on a migrated database, its dispatcher running, no broker."""
    _, port = smtp
    app = create_app(make_settings(database_url, port))
    notifications: Notifications = app.state.notifications
    await upgrade_to_head(notifications.runtime.engine, MIGRATIONS)
    task = asyncio.create_task(notifications.dispatcher.run())
    try:
        yield app
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await notifications.runtime.engine.dispose()


async def test_operators_see_the_delivery_log_of_a_reservation(app: FastAPI) -> None:
    notifications: Notifications = app.state.notifications
    command = send_tickets(2)
    other_reservation = send_tickets(1)
    other_organization = send_tickets(
        1, event=make_event().model_copy(update={"organization": "globex"})
    )
    for envelope in (command, other_reservation, other_organization):
        await deliver_command(notifications, envelope)

    async def all_sent() -> bool:
        return all(e.status == "sent" for e in await emails(notifications))

    await eventually(all_sent, what="all sent")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        reservation_id = command.data.reservation_id
        unauthenticated = await client.get(
            "/v1/messages", params={"reservation_id": str(reservation_id)}
        )
        assert unauthenticated.status_code == 401
        assert unauthenticated.json()["error"]["code"] == "UNAUTHORIZED"

        response = await client.get(
            "/v1/messages", params={"reservation_id": str(reservation_id)}, headers=_headers()
        )
        assert response.status_code == 200
        entries = response.json()
        by_id = {entry["id"]: entry for entry in entries}
        assert set(by_id) == {str(ticket.email_id) for ticket in command.data.tickets}
        for ticket in command.data.tickets:
            entry = by_id[str(ticket.email_id)]
            assert entry["reservation_id"] == str(reservation_id)
            assert entry["ticket_id"] == str(ticket.ticket_id)
            assert entry["kind"] == "ticket"
            assert entry["to"] == ticket.attendee_email
            assert entry["status"] == "sent"
            assert entry["attempts"] == 1
            assert entry["last_error"] is None
            assert entry["sent_at"] is not None
            assert entry["created_at"] is not None
            assert entry["updated_at"] is not None

        everything = await client.get("/v1/messages", headers=_headers())
        assert len(everything.json()) == 3  # the other organization's email is not listed
        sent = await client.get("/v1/messages", params={"status": "sent"}, headers=_headers())
        assert len(sent.json()) == 3

        foreign = await client.get(
            "/v1/messages",
            params={"reservation_id": str(other_organization.data.reservation_id)},
            headers=_headers(),
        )
        assert foreign.json() == []
        own = await client.get(
            "/v1/messages",
            params={"reservation_id": str(other_organization.data.reservation_id)},
            headers=_headers("globex"),
        )
        assert len(own.json()) == 1

        invalid = await client.get(
            "/v1/messages", params={"reservation_id": "not-a-uuid"}, headers=_headers()
        )
        assert invalid.status_code == 422
        assert invalid.json()["error"]["code"] == "VALIDATION_ERROR"
        assert (
            await client.get(
                "/v1/messages", params={"reservation_id": str(uuid.uuid4())}, headers=_headers()
            )
        ).json() == []
