"""The share link: event settings on the page, payment instructions, sending the link,
the token's security and the public endpoints' rate limit."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from boxoffice.contracts import ReservationExpiryChanged, SendReservationLink
from boxoffice.reservations.sweeper import sweep_once
from services.reservations.tests.support import (
    PUBLIC_BASE_URL,
    START,
    Harness,
    SeedEvent,
    auth,
    event_upserted,
    example_1_body,
    example_2_body,
    inventory_envelope,
)

RATE_LIMIT = 99
"""Requests per window in these tests: the 100th rapid request is refused."""

SETTINGS: dict[str, Any] = {
    "terms_url": "https://example.org/terms",
    "privacy_policy_url": "https://example.org/privacy",
    "payment_beneficiary": "Example Events Ltd",
    "payment_iban": "CH9300762011623852957",
}
ACCEPT = {"accept_terms": True, "accept_privacy_policy": True}


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    """A rate limit the tests can reach, and a grace of one day for outdated links."""
    return {
        "public_rate_limit_requests": RATE_LIMIT,
        "public_rate_limit_window_seconds": 600,
        "share_link_grace_hours": 24,
    }


async def _seed_with_settings(harness: Harness, **overrides: Any) -> SeedEvent:
    seed = await harness.seed_event()
    await harness.deliver(
        inventory_envelope(
            event_upserted(seed.event_id, slug=seed.slug, version=2, **{**SETTINGS, **overrides})
        )
    )
    return seed


def _without_nonce(html: str) -> str:
    return re.sub(r'nonce="[^"]*"', "", html)


def _token(created: dict[str, Any]) -> str:
    share_url: str = created["share_url"]
    assert share_url.startswith(f"{PUBLIC_BASE_URL}/r/")
    return share_url.rsplit("/", 1)[1]


async def test_a_bank_transfer_shows_instructions_and_waits_until_the_deadline(
    harness: Harness,
) -> None:
    seed = await _seed_with_settings(harness)
    created = (await harness.create(seed, example_1_body(seed))).json()
    api = f"/v1/public/reservations/{_token(created)}"

    before = (await harness.client.get(api)).json()
    confirmed = await harness.client.post(
        f"{api}/confirm", json={"payment_method": "bank_transfer", **ACCEPT}
    )
    page = await harness.client.get(f"/r/{_token(created)}")

    assert before["terms_url"] == SETTINGS["terms_url"]
    assert before["payment_instructions"] is None
    body = confirmed.json()
    assert body["status"] == "OFFLINE_PAYMENT"
    assert body["payment_instructions"] == {
        "beneficiary": "Example Events Ltd",
        "iban": "CH9300762011623852957",
        "reference": created["code"],
        "amount": "900.00",
        "currency": "EUR",
        "due": body["expires_at"],
    }
    assert datetime.fromisoformat(body["expires_at"]) == START + timedelta(days=5)
    [changed] = await harness.messages(ReservationExpiryChanged)
    assert isinstance(changed, ReservationExpiryChanged)
    assert changed.expires_at == START + timedelta(days=5)
    assert len(created["code"]) == 8
    assert "CH9300762011623852957" in page.text
    assert created["code"] in page.text
    assert 'href="https://example.org/privacy"' not in page.text  # only offered while pending


async def test_the_payment_deadline_is_never_after_the_event_starts(harness: Harness) -> None:
    seed = await _seed_with_settings(harness, payment_deadline_days=365)
    created = (await harness.create(seed, example_1_body(seed))).json()

    confirmed = await harness.client.post(
        f"/v1/public/reservations/{_token(created)}/confirm",
        json={"payment_method": "bank_transfer", **ACCEPT},
    )

    expires_at = datetime.fromisoformat(confirmed.json()["expires_at"])
    assert expires_at == datetime(2030, 5, 4, 7, 0, tzinfo=UTC)


async def test_no_bank_transfer_once_the_event_has_started(harness: Harness) -> None:
    seed = await _seed_with_settings(harness)
    body = {**example_1_body(seed), "expires_at": "2030-05-04T15:00:00Z"}
    created = (await harness.create(seed, body)).json()
    harness.clock.now = datetime(2030, 5, 4, 8, 0, tzinfo=UTC)

    refused = await harness.client.post(
        f"/v1/public/reservations/{_token(created)}/confirm",
        json={"payment_method": "bank_transfer", **ACCEPT},
    )

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "PAYMENT_DEADLINE_PASSED"


async def test_completing_a_bank_transfer_records_the_payment(harness: Harness) -> None:
    seed = await _seed_with_settings(harness)
    created = (await harness.create(seed, example_1_body(seed))).json()
    await harness.client.post(
        f"/v1/public/reservations/{_token(created)}/confirm",
        json={"payment_method": "bank_transfer", **ACCEPT},
    )

    completed = await harness.client.post(
        f"/v1/reservations/{created['id']}/complete", headers=auth()
    )
    audit = await harness.client.get(f"/v1/reservations/{created['id']}/audit", headers=auth())

    assert completed.json()["status"] == "COMPLETE"
    actions = [(entry["actor"], entry["action"]) for entry in audit.json()]
    assert actions[-2:] == [
        ("organizer@example.org", "payment_received"),
        ("organizer@example.org", "completed"),
    ]
    assert audit.json()[-2]["details"]["amount"] == "900.00"


async def test_the_organizer_sends_the_link_to_the_contact(harness: Harness) -> None:
    seed = await _seed_with_settings(harness)
    created = (await harness.create(seed, example_1_body(seed))).json()

    sent = await harness.client.post(f"/v1/reservations/{created['id']}/send-link", headers=auth())
    foreign = await harness.client.post(
        f"/v1/reservations/{created['id']}/send-link", headers=auth(org="other")
    )
    await harness.client.post(f"/v1/reservations/{created['id']}/cancel", headers=auth())
    too_late = await harness.client.post(
        f"/v1/reservations/{created['id']}/send-link", headers=auth()
    )
    audit = await harness.client.get(f"/v1/reservations/{created['id']}/audit", headers=auth())

    assert sent.status_code == 200, sent.text
    assert sent.json()["to"] == "jane.doe@example.org"
    assert sent.json()["share_url"] == created["share_url"]
    [command] = await harness.messages(SendReservationLink)
    assert isinstance(command, SendReservationLink)
    assert command.share_url == created["share_url"]
    assert str(command.email_id) == sent.json()["email_id"]
    assert command.total_minor == 90000
    assert foreign.status_code == 404
    assert too_late.status_code == 409
    assert "link_sent" in [entry["action"] for entry in audit.json()]


async def test_wrong_malformed_and_outdated_tokens_get_the_not_found_page(
    harness: Harness,
) -> None:
    seed = await _seed_with_settings(harness)
    created = (await harness.create(seed, example_1_body(seed))).json()
    token = _token(created)
    wrong = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    answers = [
        await harness.client.get(f"/r/{candidate}") for candidate in (wrong, "short", "%3Cb%3E")
    ]
    api_wrong = await harness.client.get(f"/v1/public/reservations/{wrong}")
    harness.clock.advance(timedelta(days=3))
    assert await sweep_once(harness.runtime.sessions, harness.context.service) == 1
    expired_page = await harness.client.get(f"/r/{token}")
    harness.clock.advance(timedelta(hours=25))
    outdated_page = await harness.client.get(f"/r/{token}")
    outdated_api = await harness.client.get(f"/v1/public/reservations/{token}")

    for page in [*answers, outdated_page]:
        assert page.status_code == 404
        assert "Reservation not found" in page.text
        assert page.headers["content-type"].startswith("text/html")
    # The same page whatever the reason (but for the per-response script nonce).
    assert len({_without_nonce(page.text) for page in [*answers, outdated_page]}) == 1
    assert api_wrong.status_code == outdated_api.status_code == 404
    assert api_wrong.json() == outdated_api.json()
    assert expired_page.status_code == 200
    assert 'data-status="EXPIRED"' in expired_page.text


async def test_a_share_token_opens_nothing_in_the_backoffice(harness: Harness) -> None:
    seed = await _seed_with_settings(harness)
    created = (await harness.create(seed, example_2_body(seed))).json()
    bearer = {"Authorization": f"Bearer {_token(created)}"}

    answers = [
        await harness.client.get(f"/v1/reservations/{created['id']}", headers=bearer),
        await harness.client.post(f"/v1/reservations/{created['id']}/complete", headers=bearer),
        await harness.client.get(f"/v1/events/{seed.slug}/reservations", headers=bearer),
    ]

    assert [answer.status_code for answer in answers] == [401, 401, 401]
    assert answers[0].json()["error"]["code"]


async def test_the_hundredth_rapid_request_from_one_address_is_refused(
    harness: Harness,
) -> None:
    seed = await _seed_with_settings(harness)
    created = (await harness.create(seed, example_2_body(seed))).json()
    api = f"/v1/public/reservations/{_token(created)}"

    answers = [await harness.client.get(api) for _ in range(RATE_LIMIT)]
    hundredth = await harness.client.get(api)
    page = await harness.client.get(f"/r/{_token(created)}")
    backoffice = await harness.client.get(f"/v1/reservations/{created['id']}", headers=auth())

    assert {answer.status_code for answer in answers} == {200}
    assert hundredth.status_code == 429
    assert int(hundredth.headers["retry-after"]) > 0
    assert hundredth.json()["error"]["code"] == "RATE_LIMITED"
    assert page.status_code == 429
    assert "retry-after" in page.headers
    assert backoffice.status_code == 200  # the backoffice API is not limited by this
