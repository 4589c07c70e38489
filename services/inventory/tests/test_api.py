"""The HTTP API through the real ASGI app, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from boxoffice.contracts.inventory import CategoryUpserted, EventUpserted
from services.inventory.tests.support import (
    InventoryHarness,
    auth,
    by_type,
    event_body,
    existing,
)


def _assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    error: dict[str, Any] = body["error"]
    return error


async def test_requests_without_a_valid_token_are_401(inventory: InventoryHarness) -> None:
    client = inventory.client
    missing = await client.get("/v1/events")
    invalid = await client.post(
        "/v1/events", json=event_body(), headers={"Authorization": "Bearer nope"}
    )

    _assert_error(missing, 401, "UNAUTHORIZED")
    _assert_error(invalid, 401, "UNAUTHORIZED")
    assert missing.headers["www-authenticate"] == "Bearer"


async def test_another_organization_sees_404(inventory: InventoryHarness) -> None:
    event = await inventory.create_event(event_body(), org="acme")
    category_id = event["categories"][0]["id"]
    other = auth("globex")
    client = inventory.client

    responses = [
        await client.get("/v1/events/my-awesome-event", headers=other),
        await client.patch("/v1/events/my-awesome-event", json={"name": "x"}, headers=other),
        await client.post(
            "/v1/events/my-awesome-event/categories",
            json={"name": "Mine", "price": "1.00", "max_seats": 1},
            headers=other,
        ),
        await client.patch(
            f"/v1/events/my-awesome-event/categories/{category_id}",
            json={"price": "0.00"},
            headers=other,
        ),
    ]

    for response in responses:
        _assert_error(response, 404, "NOT_FOUND")
    listed = await client.get("/v1/events", headers=other)
    assert listed.status_code == 200
    assert listed.json() == []
    assert (await inventory.get_event("my-awesome-event"))["name"] == "My Awesome Event"


async def test_events_are_listed_per_organization(inventory: InventoryHarness) -> None:
    await inventory.create_event(
        event_body(slug="later", starts_at="2031-01-01T10:00:00Z", ends_at="2031-01-01T12:00:00Z")
    )
    await inventory.create_event(event_body(slug="sooner"))
    await inventory.create_event(event_body(slug="theirs"), org="globex")

    response = await inventory.client.get("/v1/events", headers=auth())

    assert response.status_code == 200
    assert [event["slug"] for event in response.json()] == ["sooner", "later"]
    assert all(event["organization"] == "acme" for event in response.json())


async def test_event_is_shown_in_its_time_zone(inventory: InventoryHarness) -> None:
    event = await inventory.create_event(
        event_body(starts_at="2030-05-04T07:00:00Z", ends_at="2030-05-04T16:00:00Z")
    )

    assert event["starts_at"] == "2030-05-04T09:00:00+02:00"
    assert event["ends_at"] == "2030-05-04T18:00:00+02:00"
    assert event["public_reservation_limit"] == 5
    [upsert] = by_type(await inventory.published(), EventUpserted)
    assert upsert.starts_at.isoformat() == "2030-05-04T07:00:00+00:00"


INVALID_EVENTS: list[tuple[dict[str, Any], list[Any]]] = [
    ({"slug": "My Event"}, ["body", "slug"]),
    ({"slug": "double--hyphen"}, ["body", "slug"]),
    ({"currency": "XYZ"}, ["body", "currency"]),
    ({"currency": "EURO"}, ["body", "currency"]),
    ({"timezone": "Mars/Olympus"}, ["body", "timezone"]),
    ({"timezone": "../../etc/passwd"}, ["body", "timezone"]),
    ({"ends_at": "2030-05-04T08:00:00+02:00"}, ["body"]),
    ({"starts_at": "2030-05-04T09:00:00"}, ["body", "starts_at"]),
    ({"capacity": -1}, ["body", "capacity"]),
    ({"capacity": 10**12}, ["body", "capacity"]),
    ({"public_reservation_limit": 0}, ["body", "public_reservation_limit"]),
    ({"unknown": 1}, ["body", "unknown"]),
    (
        {"categories": [{"name": "A", "price": "-1.00", "max_seats": None}]},
        ["body", "categories", 0, "price"],
    ),
    (
        {"categories": [{"name": "A", "price": 12.5, "max_seats": None}]},
        ["body", "categories", 0, "price"],
    ),
    (
        {"categories": [{"name": "A", "price": "abc", "max_seats": None}]},
        ["body", "categories", 0, "price"],
    ),
    (
        {"categories": [{"name": "A", "price": "1.00"}]},
        ["body", "categories", 0, "max_seats"],
    ),
    (
        {"categories": [{"name": "A", "price": "1", "max_seats": 1, "visibility": "secret"}]},
        ["body", "categories", 0, "visibility"],
    ),
]
"""Bodies refused by the request validation, with the location of the error."""


async def test_invalid_event_is_422(inventory: InventoryHarness, subtests: pytest.Subtests) -> None:
    for changes, loc in INVALID_EVENTS:
        with subtests.test(changes=changes):
            response = await inventory.client.post(
                "/v1/events", json=event_body(**changes), headers=auth()
            )

            error = _assert_error(response, 422, "VALIDATION_ERROR")
            assert loc in [detail["loc"] for detail in error["details"]]


RULE_BREAKING_EVENTS: list[tuple[dict[str, Any], str]] = [
    (
        {"categories": [{"name": "A", "price": "1.001", "max_seats": None}]},
        "INVALID_PRICE",
    ),
    (
        {"currency": "JPY", "categories": [{"name": "A", "price": "100.5", "max_seats": 1}]},
        "INVALID_PRICE",
    ),
    (
        {
            "capacity": 10,
            "categories": [
                {"name": "A", "price": "1", "max_seats": 6},
                {"name": "B", "price": "1", "max_seats": 5},
            ],
        },
        "CAPACITY_EXCEEDED",
    ),
    (
        {
            "categories": [
                {"name": "Team", "price": "1", "max_seats": 1},
                {"name": " team", "price": "1", "max_seats": 1},
            ]
        },
        "DUPLICATE_CATEGORY_NAME",
    ),
]
"""Well-formed bodies that break a rule of the event, with the error code."""


async def test_event_breaking_a_rule_is_422(
    inventory: InventoryHarness, subtests: pytest.Subtests
) -> None:
    for changes, code in RULE_BREAKING_EVENTS:
        with subtests.test(code=code, changes=changes):
            response = await inventory.client.post(
                "/v1/events", json=event_body(**changes), headers=auth()
            )

            _assert_error(response, 422, code)
    assert (await inventory.client.get("/v1/events", headers=auth())).json() == []


async def test_malformed_json_is_422(inventory: InventoryHarness) -> None:
    response = await inventory.client.post(
        "/v1/events",
        content=b'{"slug": "x",',
        headers={**auth(), "Content-Type": "application/json"},
    )

    _assert_error(response, 422, "VALIDATION_ERROR")


async def test_duplicate_slug_is_409_even_across_organizations(
    inventory: InventoryHarness,
) -> None:
    await inventory.create_event(event_body())

    again = await inventory.client.post("/v1/events", json=event_body(), headers=auth())
    other = await inventory.client.post("/v1/events", json=event_body(), headers=auth("globex"))

    _assert_error(again, 409, "SLUG_TAKEN")
    _assert_error(other, 409, "SLUG_TAKEN")


async def test_prices_follow_the_currency(inventory: InventoryHarness) -> None:
    event = await inventory.create_event(
        event_body(
            currency="jpy",
            categories=[{"name": "Seat", "price": "1500", "max_seats": None}],
        )
    )

    assert event["currency"] == "JPY"
    assert event["categories"][0]["price"] == "1500"
    [upsert] = by_type(await inventory.published(), CategoryUpserted)
    assert upsert.price_minor == 1500


async def test_update_event(inventory: InventoryHarness) -> None:
    event = await inventory.create_event(event_body())
    await inventory.published()

    response = await inventory.client.patch(
        "/v1/events/my-awesome-event",
        json={"name": "Renamed", "capacity": 250, "public_reservation_limit": 8},
        headers={**auth(), "X-Request-ID": "request-42"},
    )

    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["name"], updated["capacity"], updated["version"]) == ("Renamed", 250, 2)
    assert updated["categories"][0]["available"] == 235
    [message] = await inventory.published()
    upsert = message.data
    assert isinstance(upsert, EventUpserted)
    assert (upsert.version, upsert.capacity, upsert.public_reservation_limit) == (2, 250, 8)
    assert str(upsert.event_id) == event["id"] == message.subject
    assert (message.correlationid, message.causationid) == ("request-42", None)

    unchanged = await inventory.client.patch(
        "/v1/events/my-awesome-event", json={"name": "Renamed"}, headers=auth()
    )
    assert unchanged.json()["version"] == 2
    assert await inventory.published() == []


INVALID_UPDATES: list[tuple[dict[str, Any], int, str]] = [
    ({"capacity": 14}, 409, "CAPACITY_BELOW_ALLOCATION"),
    ({"ends_at": "2030-05-03T00:00:00Z"}, 422, "INVALID_DATES"),
    ({"name": None}, 422, "VALIDATION_ERROR"),
    ({"currency": "USD"}, 422, "VALIDATION_ERROR"),
    ({"slug": "other"}, 422, "VALIDATION_ERROR"),
    ({"timezone": "Nowhere/City"}, 422, "VALIDATION_ERROR"),
]
"""Refused changes of the seed event, with status and error code."""


async def test_invalid_event_update(inventory: InventoryHarness, subtests: pytest.Subtests) -> None:
    await inventory.create_event(event_body())
    before = await inventory.state()

    for body, status, code in INVALID_UPDATES:
        with subtests.test(code=code, body=body):
            response = await inventory.client.patch(
                "/v1/events/my-awesome-event", json=body, headers=auth()
            )

            _assert_error(response, status, code)
    assert await inventory.state() == before


async def test_capacity_cannot_drop_below_dynamic_seats_held(
    inventory: InventoryHarness,
) -> None:
    event = await inventory.create_event(event_body())
    general = event["categories"][0]["id"]
    await inventory.hold(event["id"], existing(general, 50))

    too_low = await inventory.client.patch(
        "/v1/events/my-awesome-event", json={"capacity": 64}, headers=auth()
    )
    just_enough = await inventory.client.patch(
        "/v1/events/my-awesome-event", json={"capacity": 65}, headers=auth()
    )

    error = _assert_error(too_low, 409, "CAPACITY_BELOW_ALLOCATION")
    assert error["details"] == {"capacity": 64, "allocated": 65}
    assert just_enough.status_code == 200
    assert just_enough.json()["seats"]["unallocated"] == 0


async def test_add_category(inventory: InventoryHarness) -> None:
    await inventory.create_event(event_body())
    await inventory.published()
    url = "/v1/events/my-awesome-event/categories"

    created = await inventory.client.post(
        url,
        json={"name": "Press", "visibility": "hidden", "price": "0", "max_seats": 185},
        headers=auth(),
    )
    too_big = await inventory.client.post(
        url, json={"name": "Extra", "price": "1", "max_seats": 1}, headers=auth()
    )
    same_name = await inventory.client.post(
        url, json={"name": "PRESS", "price": "1", "max_seats": 0}, headers=auth()
    )
    bad_price = await inventory.client.post(
        url, json={"name": "Cheap", "price": "0.001", "max_seats": None}, headers=auth()
    )
    dynamic = await inventory.client.post(
        url, json={"name": "Late", "price": "120.50", "max_seats": None}, headers=auth()
    )

    assert created.status_code == 201, created.text
    assert created.json()["available"] == 185
    assert created.json()["price"] == "0.00"
    _assert_error(too_big, 409, "CAPACITY_EXCEEDED")
    _assert_error(same_name, 409, "CATEGORY_NAME_TAKEN")
    _assert_error(bad_price, 422, "INVALID_PRICE")
    assert dynamic.status_code == 201
    assert (dynamic.json()["available"], dynamic.json()["visibility"]) == (0, "public")
    upserts = by_type(await inventory.published(), CategoryUpserted)
    assert [(u.name, u.version) for u in upserts] == [("Press", 1), ("Late", 1)]


async def test_update_category(inventory: InventoryHarness) -> None:
    event = await inventory.create_event(event_body())
    ids = {c["name"]: c["id"] for c in event["categories"]}
    await inventory.hold(event["id"], existing(ids["Speakers"], 4))
    await inventory.published()
    url = f"/v1/events/my-awesome-event/categories/{ids['Speakers']}"

    below_used = await inventory.client.patch(url, json={"max_seats": 3}, headers=auth())
    too_big = await inventory.client.patch(url, json={"max_seats": 196}, headers=auth())
    taken = await inventory.client.patch(url, json={"name": "team"}, headers=auth())
    null_name = await inventory.client.patch(url, json={"name": None}, headers=auth())
    unknown = await inventory.client.patch(
        "/v1/events/my-awesome-event/categories/00000000-0000-0000-0000-000000000000",
        json={"max_seats": 3},
        headers=auth(),
    )
    _assert_error(below_used, 409, "MAX_SEATS_BELOW_USED")
    _assert_error(too_big, 409, "CAPACITY_EXCEEDED")
    _assert_error(taken, 409, "CATEGORY_NAME_TAKEN")
    _assert_error(null_name, 422, "VALIDATION_ERROR")
    _assert_error(unknown, 404, "NOT_FOUND")

    shrunk = await inventory.client.patch(
        url, json={"max_seats": 4, "price": "10", "visibility": "public"}, headers=auth()
    )
    assert shrunk.status_code == 200, shrunk.text
    assert (shrunk.json()["max_seats"], shrunk.json()["available"]) == (4, 0)
    assert (shrunk.json()["price"], shrunk.json()["visibility"]) == ("10.00", "public")
    grown = await inventory.client.patch(url, json={"max_seats": 195}, headers=auth())
    assert grown.json()["available"] == 191
    dynamic = await inventory.client.patch(url, json={"max_seats": None}, headers=auth())
    assert dynamic.status_code == 200
    assert (dynamic.json()["max_seats"], dynamic.json()["available"]) == (None, 191)
    upserts = by_type(await inventory.published(), CategoryUpserted)
    assert [(u.max_seats, u.version) for u in upserts] == [(4, 3), (195, 4), (None, 5)]


async def test_openapi_documents_the_api(inventory: InventoryHarness) -> None:
    response = await inventory.client.get("/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/v1/events"]) == {"get", "post"}
    assert set(paths["/v1/events/{slug}"]) == {"get", "patch"}
