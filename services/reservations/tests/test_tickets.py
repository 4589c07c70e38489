"""Sending tickets of COMPLETE reservations and following their delivery."""

from __future__ import annotations

import uuid
from typing import Any

from boxoffice.chassis.ticket_codes import verify_ticket_code
from boxoffice.contracts import EmailFailed, EmailRetrying, EmailSent, Envelope, SendTickets
from services.reservations.tests.support import (
    Harness,
    SeedEvent,
    auth,
    example_1_body,
    example_2_body,
)


async def _completed(harness: Harness, seed: SeedEvent, body: dict[str, Any]) -> dict[str, Any]:
    created = await harness.create(seed, body)
    assert created.status_code == 201, created.text
    completed = await harness.client.post(
        f"/v1/reservations/{created.json()['id']}/complete", headers=auth()
    )
    assert completed.status_code == 200
    reservation: dict[str, Any] = completed.json()
    return reservation


def _notification(data: EmailSent | EmailRetrying | EmailFailed) -> Envelope[Any]:
    return Envelope.wrap(data, source="boxoffice.notifications", subject=str(data.reservation_id))


async def test_assigned_tickets_are_queued_with_signed_codes_and_delivery_is_tracked(
    harness: Harness,
) -> None:
    seed = await harness.seed_event()
    body = example_2_body(seed)
    del body["items"][0]["attendees"][4]["email"]  # Sam has no email yet: unassigned
    reservation = await _completed(harness, seed, body)
    reservation_id = uuid.UUID(reservation["id"])
    tickets = reservation["tickets"]

    sent = await harness.client.post(
        f"/v1/reservations/{reservation_id}/send-tickets", headers=auth()
    )

    assert sent.status_code == 200, sent.text
    queued, skipped = sent.json()["queued"], sent.json()["skipped"]
    assert [q["ticket_id"] for q in queued] == [t["id"] for t in tickets[:4]]
    assert skipped == [
        {
            "ticket_id": tickets[4]["id"],
            "reason": "UNASSIGNED",
            "message": "the ticket has no attendee name and email yet",
        }
    ]
    [command] = await harness.messages(SendTickets)
    assert isinstance(command, SendTickets)
    assert command.event.slug == seed.slug
    assert command.requested_by == "organizer@example.org"
    assert [t.category_name for t in command.tickets] == ["Team"] * 4
    code = verify_ticket_code(
        harness.context.settings.ticket_code_key, command.tickets[0].ticket_code
    )
    assert (code.ticket_id, code.reservation_id, code.event_id) == (
        uuid.UUID(tickets[0]["id"]),
        reservation_id,
        seed.event_id,
    )
    emails_url = f"/v1/reservations/{reservation_id}/emails"
    queued_emails = (await harness.client.get(emails_url, headers=auth())).json()
    assert {e["status"] for e in queued_emails} == {"queued"}

    first, second, third = (t.email_id for t in command.tickets[:3])
    olivia = "olivia@example.org"
    await harness.deliver(
        _notification(
            EmailSent(reservation_id=reservation_id, email_id=first, to=olivia, attempts=1)
        )
    )
    await harness.deliver(
        _notification(
            EmailRetrying(
                reservation_id=reservation_id, email_id=second, attempts=1, last_error="421"
            )
        )
    )
    await harness.deliver(
        _notification(
            EmailFailed(
                reservation_id=reservation_id,
                email_id=third,
                to="quinn@example.org",
                attempts=5,
                last_error="550 no such user",
            )
        )
    )
    # A late retry report never undoes a final state.
    await harness.deliver(
        _notification(
            EmailRetrying(
                reservation_id=reservation_id, email_id=first, attempts=1, last_error="late"
            )
        )
    )

    emails = {e["id"]: e for e in (await harness.client.get(emails_url, headers=auth())).json()}
    assert emails[str(first)] | {"id": None} == {
        "id": None,
        "ticket_id": tickets[0]["id"],
        "to": olivia,
        "status": "sent",
        "attempts": 1,
        "last_error": None,
    }
    assert (emails[str(second)]["status"], emails[str(second)]["last_error"]) == ("sending", "421")
    assert (emails[str(third)]["status"], emails[str(third)]["attempts"]) == ("failed", 5)


async def test_only_complete_reservations_send_tickets_and_unknown_ids_are_skipped(
    harness: Harness,
) -> None:
    seed = await harness.seed_event()
    pending = await harness.create(seed, example_2_body(seed))
    refused = await harness.client.post(
        f"/v1/reservations/{pending.json()['id']}/send-tickets", headers=auth()
    )
    reservation = await _completed(harness, seed, example_1_body(seed))
    stranger = str(uuid.uuid4())

    only_unknown = await harness.client.post(
        f"/v1/reservations/{reservation['id']}/send-tickets",
        json={"ticket_ids": [stranger, reservation["tickets"][0]["id"]]},
        headers=auth(),
    )

    assert refused.status_code == 409
    assert refused.json()["error"]["details"] == {"status": "PENDING"}
    assert only_unknown.status_code == 200
    assert only_unknown.json()["queued"] == []
    assert [s["reason"] for s in only_unknown.json()["skipped"]] == [
        "NOT_IN_RESERVATION",
        "UNASSIGNED",
    ]
    assert await harness.messages(SendTickets) == []
