"""The contact person's page and API, opened by the share URL's token only."""

from __future__ import annotations

from boxoffice.contracts import ReleaseSeats, ReservationCompleted, ReservationOfflinePayment
from services.reservations.tests.support import (
    PUBLIC_BASE_URL,
    Harness,
    auth,
    example_1_body,
    example_2_body,
)


def _token(share_url: str) -> str:
    assert share_url.startswith(f"{PUBLIC_BASE_URL}/r/")
    return share_url.rsplit("/", 1)[1]


async def test_jane_names_attendees_and_chooses_a_bank_transfer(harness: Harness) -> None:
    seed = await harness.seed_event()
    created = (await harness.create(seed, example_1_body(seed))).json()
    token = _token(created["share_url"])
    api = f"/v1/public/reservations/{token}"
    first = created["tickets"][0]["id"]

    page = await harness.client.get(f"/r/{token}")
    seen = await harness.client.get(api)
    assigned = await harness.client.put(
        f"{api}/attendees",
        json=[
            {
                "ticket_id": first,
                "first_name": "John",
                "last_name": "Roe",
                "email": "john@example.org",
            }
        ],
    )
    unknown_ticket = await harness.client.put(
        f"{api}/attendees",
        json=[
            {
                "ticket_id": seed.team.hex,
                "first_name": "X",
                "last_name": "Y",
                "email": "x@example.org",
            }
        ],
    )
    without_terms = await harness.client.post(
        f"{api}/confirm",
        json={
            "payment_method": "bank_transfer",
            "accept_terms": False,
            "accept_privacy_policy": True,
        },
    )
    free_but_not = await harness.client.post(
        f"{api}/confirm",
        json={"payment_method": "free", "accept_terms": True, "accept_privacy_policy": True},
    )
    confirmed = await harness.client.post(
        f"{api}/confirm",
        json={
            "payment_method": "bank_transfer",
            "accept_terms": True,
            "accept_privacy_policy": True,
        },
    )

    assert page.status_code == 200
    assert "My Awesome Event" in page.text
    assert "900.00 EUR" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert seen.json()["id"] == created["id"]
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["tickets"][0]["assigned"] is True
    assert unknown_ticket.status_code == 422
    assert without_terms.status_code == 422
    assert free_but_not.status_code == 422
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "OFFLINE_PAYMENT"
    assert len(await harness.messages(ReservationOfflinePayment)) == 1
    completed = await harness.client.post(
        f"/v1/reservations/{created['id']}/complete", headers=auth()
    )
    assert completed.json()["status"] == "COMPLETE"
    audit = await harness.client.get(f"/v1/reservations/{created['id']}/audit", headers=auth())
    assert ("contact", "offline_payment_chosen") in [
        (entry["actor"], entry["action"]) for entry in audit.json()
    ]


async def test_a_free_reservation_is_completed_by_its_contact(harness: Harness) -> None:
    seed = await harness.seed_event()
    created = (await harness.create(seed, example_2_body(seed))).json()
    api = f"/v1/public/reservations/{_token(created['share_url'])}"

    confirmed = await harness.client.post(
        f"{api}/confirm",
        json={"payment_method": "free", "accept_terms": True, "accept_privacy_policy": True},
    )
    again = await harness.client.post(
        f"{api}/confirm",
        json={"payment_method": "free", "accept_terms": True, "accept_privacy_policy": True},
    )

    assert confirmed.json()["status"] == "COMPLETE"
    [completed] = await harness.messages(ReservationCompleted)
    assert isinstance(completed, ReservationCompleted)
    assert completed.completed_by == "contact"
    assert again.status_code == 409


async def test_the_contact_may_cancel_and_unknown_tokens_are_404(harness: Harness) -> None:
    seed = await harness.seed_event()
    created = (await harness.create(seed, example_2_body(seed))).json()
    api = f"/v1/public/reservations/{_token(created['share_url'])}"

    cancelled = await harness.client.post(f"{api}/cancel")
    unknown = await harness.client.get("/v1/public/reservations/" + "x" * 43)
    unknown_page = await harness.client.get("/r/" + "x" * 43)

    assert cancelled.json()["status"] == "CANCELLED"
    assert len(await harness.messages(ReleaseSeats)) == 1
    assert unknown.status_code == unknown_page.status_code == 404
