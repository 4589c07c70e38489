"""The user guide's sample event, loaded into an empty stack through inventory's HTTP API.

"My Awesome Event": 200 seats; General Admission (public, 100 EUR, dynamic), Speakers
(hidden, free, 10 seats) and Team (hidden, free, 5 seats). It starts 30 days from today
at 09:00 in Europe/Zurich, so it is always in the future.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import httpx

__all__ = ["SAMPLE_EVENT_SLUG", "load_sample_event", "sample_event"]

SAMPLE_EVENT_SLUG: Final = "my-awesome-event"
SAMPLE_EVENT_ZONE: Final = "Europe/Zurich"


def sample_event(now: datetime, *, slug: str = SAMPLE_EVENT_SLUG) -> dict[str, Any]:
    """The body of ``POST /v1/events`` for the sample event.

    Args:
        now: The current time (aware); the event starts 30 days later at 09:00.
        slug: The event's slug.
    """
    zone = ZoneInfo(SAMPLE_EVENT_ZONE)
    starts = now.astimezone(zone).replace(hour=9, minute=0, second=0, microsecond=0)
    starts += timedelta(days=30)
    return {
        "slug": slug,
        "name": "My Awesome Event",
        "currency": "EUR",
        "timezone": SAMPLE_EVENT_ZONE,
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=9)).isoformat(),
        "capacity": 200,
        "categories": [
            {
                "name": "General Admission",
                "visibility": "public",
                "price": "100.00",
                "max_seats": None,
            },
            {"name": "Speakers", "visibility": "hidden", "price": "0.00", "max_seats": 10},
            {"name": "Team", "visibility": "hidden", "price": "0.00", "max_seats": 5},
        ],
    }


async def load_sample_event(
    client: httpx.AsyncClient, inventory_url: str, token: str, *, now: datetime
) -> bool:
    """Create the sample event when the token's organization has no event yet.

    Args:
        client: The HTTP client to use.
        inventory_url: Base URL of the inventory service.
        token: A backoffice JWT of the organization.
        now: The current time (aware).

    Returns:
        True when the event was created, False when the organization had events already.

    Raises:
        httpx.HTTPStatusError: inventory refused a request.
    """
    headers = {"Authorization": f"Bearer {token}"}
    events = await client.get(f"{inventory_url}/v1/events", headers=headers)
    events.raise_for_status()
    if events.json():
        return False
    created = await client.post(
        f"{inventory_url}/v1/events", json=sample_event(now), headers=headers
    )
    created.raise_for_status()
    return True
