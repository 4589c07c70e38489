"""Creating reservations: the guide's examples, refusals, waiting, idempotency, input."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from boxoffice.contracts import (
    HoldSeats,
    ReleaseSeats,
    ReservationCreated,
    ReservationExpiryChanged,
    ReservationPending,
    ReservationRejected,
)
from boxoffice.reservations.models import CategoryReplica
from services.reservations.tests.support import (
    PUBLIC_BASE_URL,
    Harness,
    auth,
    category_upserted,
    eventually,
    example_1_body,
    example_2_body,
    inventory_envelope,
)


async def test_example_1_jane_doe_gets_a_pending_reservation_with_a_free_seat(
    harness: Harness,
) -> None:
    seed = await harness.seed_event()

    response = await harness.create(seed, example_1_body(seed))

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "PENDING"
    assert body["currency"] == "EUR"
    assert body["total"] == "900.00"
    assert body["contact"]["last_name"] == "Doe"
    assert body["event"]["slug"] == seed.slug
    # 16:00 in Zurich on 10 March: the default is the end of the next day, Zurich time.
    assert body["expires_at"] == "2030-03-11T23:59:00+01:00"
    assert body["share_url"].startswith(f"{PUBLIC_BASE_URL}/r/")
    assert len(body["share_url"].rsplit("/", 1)[1]) >= 43
    general, discount = body["lines"]
    assert general == {
        "category_id": str(seed.general_admission),
        "category_name": "General Admission",
        "unit_price": "100.00",
        "quantity": 9,
        "subtotal": "900.00",
    }
    assert discount["category_name"] == "Group discount"
    assert discount["category_id"] is not None
    assert (discount["unit_price"], discount["quantity"], discount["subtotal"]) == (
        "0.00",
        1,
        "0.00",
    )
    assert len(body["tickets"]) == 10
    assert all(not t["assigned"] and t["status"] == "PENDING" for t in body["tickets"])
    assert sum(t["category_id"] == discount["category_id"] for t in body["tickets"]) == 1

    [hold] = await harness.hold_commands()
    assert hold.event_id == seed.event_id
    assert hold.channel == "backoffice"
    assert hold.lines[0].category_id == seed.general_admission
    assert hold.lines[1].new_category is not None
    assert hold.lines[1].new_category.price_minor == 0
    created = await harness.messages(ReservationCreated)
    pending = await harness.messages(ReservationPending)
    assert len(created) == len(pending) == 1
    assert isinstance(pending[0], ReservationPending)
    assert pending[0].total_minor == 90000

    patched = await harness.client.patch(
        f"/v1/reservations/{body['id']}",
        json={"expires_at": "2030-03-20T12:00:00+01:00"},
        headers=auth(),
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["expires_at"] == "2030-03-20T12:00:00+01:00"
    [changed] = await harness.messages(ReservationExpiryChanged)
    assert isinstance(changed, ReservationExpiryChanged)
    assert changed.expires_at.isoformat() == "2030-03-20T11:00:00+00:00"


async def test_example_2_the_team_is_registered_and_completed(harness: Harness) -> None:
    seed = await harness.seed_event()

    response = await harness.create(seed, example_2_body(seed))

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["total"] == "0.00"
    assert [t["first_name"] for t in body["tickets"]] == ["Olivia", "Paul", "Quinn", "Rita", "Sam"]
    assert all(t["assigned"] and t["category_id"] == str(seed.team) for t in body["tickets"])

    completed = await harness.client.post(f"/v1/reservations/{body['id']}/complete", headers=auth())

    assert completed.status_code == 200, completed.text
    assert completed.json()["status"] == "COMPLETE"
    assert {t["status"] for t in completed.json()["tickets"]} == {"ACQUIRED"}
    fetched = await harness.client.get(f"/v1/reservations/{body['id']}", headers=auth())
    assert fetched.json()["status"] == "COMPLETE"


async def test_a_refused_hold_answers_409_and_the_reservation_is_rejected(
    harness: Harness,
) -> None:
    seed = await harness.seed_event()

    response = await harness.create(seed, example_1_body(seed), answer="refuse")

    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "NOT_ENOUGH_SEATS"
    assert error["details"]["status"] == "REJECTED"
    assert [line["asked"] for line in error["details"]["lines"]] == [9, 1]
    reservation_id = error["details"]["reservation_id"]
    fetched = await harness.client.get(f"/v1/reservations/{reservation_id}", headers=auth())
    assert fetched.json()["status"] == "REJECTED"
    assert fetched.json()["refusal"]["reason"] == "NOT_ENOUGH_SEATS"
    assert {t["status"] for t in fetched.json()["tickets"]} == {"RELEASED"}
    assert len(await harness.messages(ReservationRejected)) == 1


async def test_without_an_answer_in_time_the_create_answers_202_and_get_follows(
    harness: Harness,
) -> None:
    harness.context.settings.create_wait_seconds = 0.2
    seed = await harness.seed_event()

    response = await harness.create(seed, example_2_body(seed), answer="ignore")

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "AWAITING_SEATS"
    assert response.headers["location"] == f"/v1/reservations/{response.json()['id']}"
    [hold] = await harness.hold_commands()
    await harness.answer(hold, "hold")
    fetched = await harness.client.get(response.headers["location"], headers=auth())
    assert fetched.json()["status"] == "PENDING"


async def test_a_request_waiting_wakes_when_the_answer_is_committed(harness: Harness) -> None:
    harness.context.settings.create_wait_seconds = 30.0
    harness.context.settings.outcome_poll_seconds = 30.0  # only the in-process signal can wake
    seed = await harness.seed_event()
    request = asyncio.create_task(
        harness.client.post(
            f"/v1/events/{seed.slug}/reservations", json=example_2_body(seed), headers=auth()
        )
    )

    async def hold_sent() -> bool:
        return len(await harness.hold_commands()) == 1

    await eventually(hold_sent, what="HoldSeats in the outbox")
    [hold] = await harness.hold_commands()
    await harness.answer(hold, "hold")
    response = await asyncio.wait_for(request, timeout=10)

    assert response.status_code == 201


async def test_an_idempotency_key_returns_the_first_reservation(harness: Harness) -> None:
    seed = await harness.seed_event()
    headers = {**auth(), "Idempotency-Key": "order-4711"}

    first = await harness.create(seed, example_1_body(seed), headers=headers)
    again = await harness.create(seed, example_1_body(seed), headers=headers)
    other_body = await harness.create(seed, example_2_body(seed), headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert len(await harness.hold_commands()) == 1
    listed = await harness.client.get(f"/v1/events/{seed.slug}/reservations", headers=auth())
    assert listed.json()["total"] == 1
    assert other_body.status_code == 409
    assert other_body.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_another_organization_sees_404(harness: Harness) -> None:
    seed = await harness.seed_event()
    created = await harness.create(seed, example_1_body(seed))
    reservation_id = created.json()["id"]
    stranger = auth(org="other-org")

    create = await harness.client.post(
        f"/v1/events/{seed.slug}/reservations", json=example_1_body(seed), headers=stranger
    )
    listing = await harness.client.get(f"/v1/events/{seed.slug}/reservations", headers=stranger)
    fetched = await harness.client.get(f"/v1/reservations/{reservation_id}", headers=stranger)
    completed = await harness.client.post(
        f"/v1/reservations/{reservation_id}/complete", headers=stranger
    )

    for response in (create, listing, fetched, completed):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_a_missing_token_is_401(harness: Harness) -> None:
    seed = await harness.seed_event()

    response = await harness.client.post(
        f"/v1/events/{seed.slug}/reservations", json=example_1_body(seed)
    )

    assert response.status_code == 401


def _bad_bodies(general_admission: str) -> list[tuple[str, Any]]:
    contact = {"first_name": "Jane", "last_name": "Doe", "email": "jane@example.org"}
    seats = {"category": {"id": general_admission}, "empty_seats": 1}
    return [
        ("not an object", ["items"]),
        ("no items", {"contact": contact, "items": []}),
        ("no contact", {"items": [seats]}),
        ("bad email", {"contact": {**contact, "email": "jane"}, "items": [seats]}),
        ("both occupancies", {"contact": contact, "items": [{**seats, "attendees": []}]}),
        ("no occupancy", {"contact": contact, "items": [{"category": seats["category"]}]}),
        ("zero seats", {"contact": contact, "items": [{**seats, "empty_seats": 0}]}),
        ("both categories", {"contact": contact, "items": [{**seats, "category": {
            "id": general_admission, "new": {"name": "X", "price": "1"}}}]}),
        ("unknown category", {"contact": contact, "items": [
            {**seats, "category": {"id": "6a1d2b9e-8a54-4c1f-9e55-2c8c2d1d0f00"}}]}),
        ("not a uuid", {"contact": contact, "items": [{**seats, "category": {"id": "ga"}}]}),
        ("bad price", {"contact": contact, "items": [
            {**seats, "category": {"new": {"name": "X", "price": "ten"}}}]}),
        ("negative price", {"contact": contact, "items": [
            {**seats, "category": {"new": {"name": "X", "price": "-1.00"}}}]}),
        ("too precise", {"contact": contact, "items": [
            {**seats, "category": {"new": {"name": "X", "price": "1.005"}}}]}),
        ("past expiry", {"contact": contact, "items": [seats],
                         "expires_at": "2030-03-10T10:00:00+00:00"}),
        ("after the event", {"contact": contact, "items": [seats],
                             "expires_at": "2030-06-01T10:00:00+00:00"}),
        ("naive expiry", {"contact": contact, "items": [seats],
                          "expires_at": "2030-03-12T10:00:00"}),
        ("unknown field", {"contact": contact, "items": [seats], "discount": 10}),
    ]  # fmt: skip


async def test_bad_input_is_422_never_500(harness: Harness) -> None:
    seed = await harness.seed_event()

    for name, body in _bad_bodies(str(seed.general_admission)):
        response = await harness.client.post(
            f"/v1/events/{seed.slug}/reservations", json=body, headers=auth()
        )

        assert response.status_code == 422, f"{name}: {response.text}"
        assert "code" in response.json()["error"], name
    assert await harness.hold_commands() == []


async def test_malformed_json_and_ids_are_422(harness: Harness) -> None:
    seed = await harness.seed_event()

    broken = await harness.client.post(
        f"/v1/events/{seed.slug}/reservations",
        content=b"{not json",
        headers={**auth(), "content-type": "application/json"},
    )
    bad_id = await harness.client.get("/v1/reservations/not-a-uuid", headers=auth())

    assert broken.status_code == 422
    assert bad_id.status_code == 422


async def test_holds_are_sent_with_the_reservation_in_one_transaction(harness: Harness) -> None:
    seed = await harness.seed_event()

    harness.context.settings.create_wait_seconds = 0
    await harness.create(seed, example_2_body(seed), answer="ignore")

    types = [type(message).__name__ for message in await harness.messages()]
    assert types == [HoldSeats.__name__, ReservationCreated.__name__]


async def test_the_openapi_document_describes_every_endpoint(harness: Harness) -> None:
    response = await harness.client.get("/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/v1/events/{slug}/reservations",
        "/v1/reservations/{reservation_id}",
        "/v1/reservations/{reservation_id}/complete",
        "/v1/reservations/{reservation_id}/cancel",
        "/v1/reservations/{reservation_id}/reinstate",
        "/v1/reservations/{reservation_id}/send-tickets",
        "/v1/reservations/{reservation_id}/emails",
        "/v1/reservations/{reservation_id}/audit",
        "/v1/attendees/csv",
        "/v1/public/reservations/{token}/confirm",
        "/r/{token}",
    ):
        assert path in paths, path


async def test_the_default_expiry_never_outlives_the_event(harness: Harness) -> None:
    seed = await harness.seed_event()
    harness.clock.now = datetime(2030, 5, 4, 10, 0, tzinfo=UTC)  # the event's day

    on_the_day = await harness.create(seed, example_2_body(seed))
    harness.clock.now = datetime(2030, 5, 5, 10, 0, tzinfo=UTC)
    after_the_event = await harness.create(seed, example_2_body(seed))

    assert on_the_day.json()["expires_at"] == "2030-05-04T18:00:00+02:00"
    assert after_the_event.status_code == 422
    assert after_the_event.json()["error"]["code"] == "EVENT_ENDED"


async def test_a_batch_of_answers_is_applied_as_one_by_one_answers_would_be(
    harness: Harness,
) -> None:
    """Holds, a refusal, a repeat, a late hold and category updates in one fetched batch."""
    harness.context.settings.create_wait_seconds = 0
    seed = await harness.seed_event()
    ids = []
    for _ in range(4):
        response = await harness.create(seed, example_2_body(seed), answer="ignore")
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    cancelled = await harness.client.post(f"/v1/reservations/{ids[3]}/cancel", headers=auth())
    assert cancelled.status_code == 200, cancelled.text
    holds = {str(hold.reservation_id): hold for hold in await harness.hold_commands()}
    held = [await harness.outcome(holds[ids[n]], "hold") for n in (0, 1, 3)]
    refused = await harness.outcome(holds[ids[2]], "refuse")
    team = [
        category_upserted(seed.event_id, seed.team, "Team", 0, 5, version=version)
        for version in (2, 4, 3)  # the newest wins, whatever the order
    ]

    await harness.deliver_inventory_batch(
        [
            inventory_envelope(message)
            for message in (team[0], held[0], held[1], team[1], refused, held[0], held[2], team[2])
        ]
    )

    statuses = []
    for reservation_id in ids:
        fetched = await harness.client.get(f"/v1/reservations/{reservation_id}", headers=auth())
        statuses.append(fetched.json()["status"])
        if fetched.json()["status"] == "PENDING":
            assert {ticket["status"] for ticket in fetched.json()["tickets"]} == {"PENDING"}
    assert statuses == ["PENDING", "PENDING", "REJECTED", "CANCELLED"]
    assert len(await harness.messages(ReservationPending)) == 2  # the repeat changed nothing
    assert len(await harness.messages(ReservationRejected)) == 1
    releases = [
        message
        for message in await harness.messages(ReleaseSeats)
        if isinstance(message, ReleaseSeats) and message.reservation_id == held[2].reservation_id
    ]
    assert len(releases) == 2  # the cancellation's, and the late hold given back
    async with harness.runtime.sessions() as session:
        replica = await session.get(CategoryReplica, seed.team)
        assert replica is not None
        assert replica.version == 4
