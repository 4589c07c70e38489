"""The sample event of ``make run``: created once, through inventory's HTTP API."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from boxoffice.devstack.seed_data import SAMPLE_EVENT_SLUG, load_sample_event, sample_event

NOW = datetime(2030, 3, 10, 15, 0, tzinfo=UTC)


def test_the_sample_event_is_the_guides() -> None:
    body = sample_event(NOW)
    assert body["slug"] == SAMPLE_EVENT_SLUG
    assert body["name"] == "My Awesome Event"
    assert body["capacity"] == 200
    assert body["currency"] == "EUR"
    assert body["starts_at"] == "2030-04-09T09:00:00+02:00"
    assert body["ends_at"] == "2030-04-09T18:00:00+02:00"
    assert [
        (c["name"], c["visibility"], c["price"], c["max_seats"]) for c in body["categories"]
    ] == [
        ("General Admission", "public", "100.00", None),
        ("Speakers", "hidden", "0.00", 10),
        ("Team", "hidden", "0.00", 5),
    ]


class FakeInventory:
    """Answers ``/v1/events`` like inventory, remembering what was created."""

    def __init__(self, *, refuse: bool = False) -> None:
        self.events: list[dict[str, object]] = []
        self.refuse = refuse
        self.tokens: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.tokens.add(request.headers["authorization"])
        if request.method == "GET":
            return httpx.Response(200, json=self.events)
        if self.refuse:
            return httpx.Response(422, json={"error": {"code": "VALIDATION_ERROR"}})
        self.events.append(json.loads(request.content))
        return httpx.Response(201, json=self.events[-1])


async def test_loaded_into_an_empty_inventory_only() -> None:
    inventory = FakeInventory()
    async with httpx.AsyncClient(transport=httpx.MockTransport(inventory)) as client:
        assert await load_sample_event(client, "http://inventory", "tok", now=NOW)
        assert not await load_sample_event(client, "http://inventory", "tok", now=NOW)
    assert [event["slug"] for event in inventory.events] == [SAMPLE_EVENT_SLUG]
    assert inventory.tokens == {"Bearer tok"}


async def test_a_refusal_is_raised() -> None:
    inventory = FakeInventory(refuse=True)
    async with httpx.AsyncClient(transport=httpx.MockTransport(inventory)) as client:
        with pytest.raises(httpx.HTTPStatusError):
            await load_sample_event(client, "http://inventory", "tok", now=NOW)
