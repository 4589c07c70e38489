"""An event's settings for the contact person's page: policies and bank transfer details."""

from __future__ import annotations

import pytest

from boxoffice.contracts.inventory import EventUpserted
from services.inventory.tests.support import InventoryHarness, auth, event_body

SETTINGS = {
    "terms_url": "https://example.org/terms",
    "privacy_policy_url": "https://example.org/privacy",
    "payment_beneficiary": "Example Events Ltd",
    "payment_iban": "CH93 0076 2011 6238 5295 7",
    "payment_deadline_days": 10,
}


async def test_settings_are_kept_and_published(inventory: InventoryHarness) -> None:
    created = await inventory.create_event(event_body(**SETTINGS))
    [upsert] = [m.data for m in await inventory.published() if isinstance(m.data, EventUpserted)]

    assert created["payment_iban"] == "CH9300762011623852957"
    assert created["terms_url"] == "https://example.org/terms"
    assert created["payment_deadline_days"] == 10
    assert isinstance(upsert, EventUpserted)
    assert (upsert.payment_iban, upsert.payment_beneficiary, upsert.payment_deadline_days) == (
        "CH9300762011623852957",
        "Example Events Ltd",
        10,
    )
    assert upsert.privacy_policy_url == "https://example.org/privacy"


async def test_settings_default_and_can_be_changed_or_removed(inventory: InventoryHarness) -> None:
    created = await inventory.create_event(event_body())
    await inventory.published()

    response = await inventory.client.patch(
        "/v1/events/my-awesome-event",
        json={"terms_url": "https://example.org/t", "payment_deadline_days": 3},
        headers=auth(),
    )
    removed = await inventory.client.patch(
        "/v1/events/my-awesome-event", json={"terms_url": None}, headers=auth()
    )

    assert (created["terms_url"], created["payment_deadline_days"]) == (None, 5)
    assert response.status_code == 200, response.text
    assert (response.json()["terms_url"], response.json()["payment_deadline_days"]) == (
        "https://example.org/t",
        3,
    )
    assert removed.json()["terms_url"] is None
    published = [m.data for m in await inventory.published()]
    assert [
        (u.terms_url, u.payment_deadline_days) for u in published if isinstance(u, EventUpserted)
    ] == [
        ("https://example.org/t", 3),
        (None, 3),
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"terms_url": "javascript:alert(1)"},
        {"privacy_policy_url": "example.org/privacy"},
        {"payment_iban": "not an iban"},
        {"payment_deadline_days": 0},
        {"payment_deadline_days": None},
    ],
)
async def test_invalid_settings_are_422(
    inventory: InventoryHarness, body: dict[str, object]
) -> None:
    await inventory.create_event(event_body())

    created = await inventory.client.post(
        "/v1/events", json=event_body(slug="other-event", **body), headers=auth()
    )
    patched = await inventory.client.patch("/v1/events/my-awesome-event", json=body, headers=auth())

    assert created.status_code == patched.status_code == 422
    assert patched.json()["error"]["code"] == "VALIDATION_ERROR"
