"""The user guide's "Sample use case", played on the real system.

Three services as separate processes on PostgreSQL, the real broker and SMTP: the
organizer creates "My Awesome Event", then Example 1 (Jane Doe: 9 empty General
Admission seats + 1 seat in a new hidden "Group discount" category at 0.00) and
Example 2 (the 5 team members, marked as completed, tickets sent), with inventory's
availability checked after each step.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from boxoffice.devstack.seed_data import sample_event
from boxoffice.devstack.stack import Stack, eventually

EVENT_TZ = ZoneInfo("Europe/Zurich")
TEAM = [
    {"first_name": first, "last_name": "Organizer", "email": f"{first.lower()}@team.example"}
    for first in ("Ann", "Ben", "Cat", "Dan", "Eve")
]


def _text_of(message: EmailMessage) -> str:
    """The text parts of a mail (plain and HTML), decoded."""
    return "\n".join(
        str(part.get_content())
        for part in message.walk()
        if part.get_content_maintype() == "text" and not part.is_attachment()
    )


async def _categories(client: httpx.AsyncClient, stack: Stack, slug: str) -> dict[str, Any]:
    response = await client.get(
        f"{stack.url('inventory')}/v1/events/{slug}", headers=stack.headers()
    )
    assert response.status_code == 200, response.text
    return {category["name"]: category for category in response.json()["categories"]}


async def _create_when_replicated(
    client: httpx.AsyncClient, stack: Stack, slug: str, body: dict[str, Any]
) -> httpx.Response:
    """POST a reservation, retrying while the reservations replica lacks the event.

    Inventory's upserts of a new event and its categories arrive one message at a
    time: until the last one is applied the event or a category is unknown (404, or
    422 ``CATEGORY_NOT_FOUND``), and nothing is created.
    """
    url = f"{stack.url('reservations')}/v1/events/{slug}/reservations"

    async def attempt() -> httpx.Response | None:
        response = await client.post(url, json=body, headers=stack.headers())
        not_replicated = response.status_code == 404 or (
            response.status_code == 422 and response.json()["error"]["code"] == "CATEGORY_NOT_FOUND"
        )
        return None if not_replicated else response

    response: httpx.Response = await eventually(attempt, within=30, what="event replicated")
    return response


async def test_the_sample_use_case_of_the_user_guide(stack: Stack) -> None:
    slug = "my-awesome-event"
    async with httpx.AsyncClient(timeout=15.0) as client:
        created = await client.post(
            f"{stack.url('inventory')}/v1/events",
            json=sample_event(datetime.now(EVENT_TZ), slug=slug),
            headers=stack.headers(),
        )
        assert created.status_code == 201, created.text
        categories = await _categories(client, stack, slug)
        assert {name: c["available"] for name, c in categories.items()} == {
            "General Admission": 185,
            "Speakers": 10,
            "Team": 5,
        }
        general, team = categories["General Admission"], categories["Team"]

        # Example 1: Jane Doe, 9 empty GA seats + 1 free seat in a new category.
        example_1 = await _create_when_replicated(
            client,
            stack,
            slug,
            {
                "contact": {
                    "first_name": "Jane",
                    "last_name": "Doe",
                    "email": "jane.doe@example.org",
                    "company": "Example Org.",
                },
                "items": [
                    {"category": {"id": general["id"]}, "empty_seats": 9},
                    {
                        "category": {"new": {"name": "Group discount", "price": "0.00"}},
                        "empty_seats": 1,
                    },
                ],
            },
        )
        assert example_1.status_code == 201, example_1.text
        jane = example_1.json()
        assert jane["status"] == "PENDING"
        assert jane["total"] == "900.00"
        assert jane["currency"] == "EUR"
        assert len(jane["tickets"]) == 10
        assert not any(ticket["assigned"] for ticket in jane["tickets"])
        expires_at = datetime.fromisoformat(jane["expires_at"]).astimezone(EVENT_TZ)
        tomorrow = datetime.now(EVENT_TZ).date() + timedelta(days=1)
        assert (expires_at.date(), expires_at.hour, expires_at.minute) == (tomorrow, 23, 59)
        assert jane["share_url"].startswith(stack.url("reservations") + "/r/")

        later = (datetime.now(EVENT_TZ) + timedelta(days=5)).replace(microsecond=0)
        updated = await client.patch(
            f"{stack.url('reservations')}/v1/reservations/{jane['id']}",
            json={"expires_at": later.isoformat()},
            headers=stack.headers(),
        )
        assert updated.status_code == 200, updated.text
        assert datetime.fromisoformat(updated.json()["expires_at"]) == later

        async def general_admission_down_to_175() -> bool:
            now = await _categories(client, stack, slug)
            discount = now.get("Group discount")
            return (
                now["General Admission"]["available"] == 175
                and discount is not None
                and discount["visibility"] == "hidden"
                and discount["max_seats"] == 1
            )

        await eventually(general_admission_down_to_175, within=15, what="175 GA left")

        # Example 2: the team, named, confirmed directly.
        example_2 = await _create_when_replicated(
            client,
            stack,
            slug,
            {
                "contact": {
                    "first_name": "Olga",
                    "last_name": "Organizer",
                    "email": "olga@team.example",
                },
                "items": [{"category": {"id": team["id"]}, "attendees": TEAM}],
            },
        )
        assert example_2.status_code == 201, example_2.text
        team_reservation = example_2.json()
        assert team_reservation["status"] == "PENDING"
        assert team_reservation["total"] == "0.00"
        assert all(ticket["assigned"] for ticket in team_reservation["tickets"])
        completed = await client.post(
            f"{stack.url('reservations')}/v1/reservations/{team_reservation['id']}/complete",
            headers=stack.headers(),
        )
        assert completed.status_code == 200, completed.text
        assert completed.json()["status"] == "COMPLETE"

        async def team_sold_out() -> bool:
            now = await _categories(client, stack, slug)
            return bool(
                now["Team"]["available"] == 0
                and now["Team"]["sold"] == 5
                and now["General Admission"]["available"] == 175
            )

        await eventually(team_sold_out, within=15, what="Team sold out")

        # Send tickets via email: all five, each to its attendee, with PDF and calendar.
        sent = await client.post(
            f"{stack.url('reservations')}/v1/reservations/{team_reservation['id']}/send-tickets",
            json={},
            headers=stack.headers(),
        )
        assert sent.status_code == 200, sent.text
        assert len(sent.json()["queued"]) == 5
        assert sent.json()["skipped"] == []
        assert stack.mail is not None
        mail = stack.mail

        def five_mails() -> bool:
            return len(mail.messages()) >= 5

        await eventually(five_mails, within=30, what="five ticket mails in the sink")
        messages = mail.messages()
        assert sorted(message["To"].addresses[0].addr_spec for message in messages) == sorted(
            member["email"] for member in TEAM
        )
        for message in messages:
            attachments = sorted(part.get_filename() or "" for part in message.iter_attachments())
            assert attachments[0] == "event.ics"
            assert attachments[1].startswith("ticket-")
            assert attachments[1].endswith(".pdf")

        async def emails_sent() -> bool:
            log = await client.get(
                f"{stack.url('reservations')}/v1/reservations/{team_reservation['id']}/emails",
                headers=stack.headers(),
            )
            return [entry["status"] for entry in log.json()] == ["sent"] * 5

        await eventually(emails_sent, within=15, what="the email log shows five sent")

        # Jane's share link opens her reservation without a login.
        page = await client.get(jane["share_url"])
        assert page.status_code == 200
        assert "Jane" in page.text
        assert "900.00" in page.text

        # The organizer emails Jane her link through notifications.
        link = await client.post(
            f"{stack.url('reservations')}/v1/reservations/{jane['id']}/send-link",
            headers=stack.headers(),
        )
        assert link.status_code == 200, link.text

        def jane_has_her_link() -> bool:
            return any(
                message["To"].addresses[0].addr_spec == "jane.doe@example.org"
                and jane["share_url"] in _text_of(message)
                for message in mail.messages()
            )

        await eventually(jane_has_her_link, within=30, what="Jane's link in the mail sink")
