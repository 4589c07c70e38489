"""Reading, updating, completing, cancelling and reinstating reservations; the audit log."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from boxoffice.contracts import (
    ConfirmSeats,
    ReleaseSeats,
    ReservationCancelled,
    ReservationCompleted,
    ReservationPending,
)
from boxoffice.reservations.sweeper import sweep_once
from services.reservations.tests.support import (
    Harness,
    SeedEvent,
    auth,
    example_1_body,
    example_2_body,
)


async def _pending(harness: Harness, seed: SeedEvent, body: dict[str, Any] | None = None) -> str:
    response = await harness.create(seed, body or example_2_body(seed))
    assert response.status_code == 201, response.text
    reservation_id: str = response.json()["id"]
    return reservation_id


async def _post(harness: Harness, reservation_id: str, action: str, **kwargs: Any) -> Any:
    return await harness.client.post(
        f"/v1/reservations/{reservation_id}/{action}", headers=auth(), **kwargs
    )


async def test_complete_confirms_the_seats_and_a_second_complete_is_409(harness: Harness) -> None:
    seed = await harness.seed_event()
    reservation_id = await _pending(harness, seed)

    first = await _post(harness, reservation_id, "complete")
    second = await _post(harness, reservation_id, "complete")
    cancel = await _post(harness, reservation_id, "cancel")

    assert first.status_code == 200
    [confirm] = await harness.messages(ConfirmSeats)
    assert isinstance(confirm, ConfirmSeats)
    assert str(confirm.reservation_id) == reservation_id
    assert confirm.event_id == seed.event_id
    [completed] = await harness.messages(ReservationCompleted)
    assert isinstance(completed, ReservationCompleted)
    assert completed.completed_by == "organizer@example.org"
    for refused in (second, cancel):
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "INVALID_STATUS"
        assert refused.json()["error"]["details"] == {"status": "COMPLETE"}
        assert "COMPLETE" in refused.json()["error"]["message"]


async def test_cancel_releases_the_seats_and_final_reservations_refuse_changes(
    harness: Harness,
) -> None:
    seed = await harness.seed_event()
    reservation_id = await _pending(harness, seed)

    cancelled = await _post(harness, reservation_id, "cancel")

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "CANCELLED"
    assert {t["status"] for t in cancelled.json()["tickets"]} == {"RELEASED"}
    [release] = await harness.messages(ReleaseSeats)
    assert isinstance(release, ReleaseSeats)
    assert release.reason == "cancelled"
    assert len(await harness.messages(ReservationCancelled)) == 1
    for response in (
        await _post(harness, reservation_id, "complete"),
        await _post(harness, reservation_id, "cancel"),
        await _post(harness, reservation_id, "reinstate"),
        await harness.client.patch(
            f"/v1/reservations/{reservation_id}",
            json={"expires_at": "2030-03-20T12:00:00+01:00"},
            headers=auth(),
        ),
    ):
        assert response.status_code == 409, response.text
        assert response.json()["error"]["details"]["status"] == "CANCELLED"


async def test_a_late_hold_for_a_cancelled_reservation_is_released(harness: Harness) -> None:
    harness.context.settings.create_wait_seconds = 0
    seed = await harness.seed_event()
    created = await harness.create(seed, example_2_body(seed), answer="ignore")
    assert created.status_code == 202
    reservation_id = created.json()["id"]
    assert (await _post(harness, reservation_id, "cancel")).status_code == 200

    [hold] = await harness.hold_commands()
    await harness.answer(hold, "hold")

    releases = await harness.messages(ReleaseSeats)
    assert len(releases) == 2  # one for the cancel, one giving the late hold back
    fetched = await harness.client.get(f"/v1/reservations/{reservation_id}", headers=auth())
    assert fetched.json()["status"] == "CANCELLED"
    assert await harness.messages(ReservationPending) == []


async def test_patch_changes_the_contact_and_refuses_bad_expiries(harness: Harness) -> None:
    seed = await harness.seed_event()
    reservation_id = await _pending(harness, seed)
    url = f"/v1/reservations/{reservation_id}"

    contact = await harness.client.patch(
        url, json={"contact": {"email": "new@example.org", "company": "ACME"}}, headers=auth()
    )
    past = await harness.client.patch(
        url, json={"expires_at": "2030-03-01T12:00:00+01:00"}, headers=auth()
    )
    after_event = await harness.client.patch(
        url, json={"expires_at": "2031-01-01T12:00:00+01:00"}, headers=auth()
    )
    removed_name = await harness.client.patch(
        url, json={"contact": {"first_name": None}}, headers=auth()
    )

    assert contact.status_code == 200, contact.text
    assert contact.json()["contact"]["email"] == "new@example.org"
    assert contact.json()["contact"]["company"] == "ACME"
    assert contact.json()["contact"]["first_name"] == "Olivia"
    for response in (past, after_event, removed_name):
        assert response.status_code == 422, response.text


async def test_expired_reservations_can_be_reinstated_while_seats_remain(
    harness: Harness,
) -> None:
    seed = await harness.seed_event()
    reservation_id = await _pending(harness, seed, example_1_body(seed))
    harness.clock.advance(timedelta(days=3))
    assert await sweep_once(harness.runtime.sessions, harness.context.service) == 1

    refused = await harness.with_inventory(
        _post(harness, reservation_id, "reinstate", json={}), answer="refuse"
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["details"]["status"] == "EXPIRED"

    reinstated = await harness.with_inventory(
        _post(harness, reservation_id, "reinstate", json={"expires_at": "2030-03-20T10:00:00Z"}),
        answer="hold",
    )
    assert reinstated.status_code == 200, reinstated.text
    body = reinstated.json()
    assert body["status"] == "PENDING"
    assert body["expires_at"] == "2030-03-20T11:00:00+01:00"
    assert body["total"] == "900.00"
    assert {t["status"] for t in body["tickets"]} == {"PENDING"}
    holds = await harness.hold_commands()
    assert len(holds) == 3
    # The category created on the fly by the first hold is reused, not created again.
    assert all(line.category_id is not None for line in holds[2].lines)
    again = await _post(harness, reservation_id, "reinstate")
    assert again.status_code == 409
    assert again.json()["error"]["details"] == {"status": "PENDING"}


async def test_every_action_is_in_the_audit_log(harness: Harness) -> None:
    seed = await harness.seed_event()
    reservation_id = await _pending(harness, seed)
    await harness.client.patch(
        f"/v1/reservations/{reservation_id}", json={"contact": {"company": "X"}}, headers=auth()
    )
    await _post(harness, reservation_id, "complete")

    response = await harness.client.get(f"/v1/reservations/{reservation_id}/audit", headers=auth())

    assert response.status_code == 200
    entries = [(entry["actor"], entry["action"]) for entry in response.json()]
    assert entries == [
        ("organizer@example.org", "created"),
        ("system", "seats_held"),
        ("organizer@example.org", "updated"),
        ("organizer@example.org", "completed"),
    ]
    stranger = await harness.client.get(
        f"/v1/reservations/{reservation_id}/audit", headers=auth(org="other")
    )
    assert stranger.status_code == 404


async def test_the_list_filters_by_status_and_contact_and_pages(harness: Harness) -> None:
    seed = await harness.seed_event()
    jane = await _pending(harness, seed, example_1_body(seed))
    olivia = await _pending(harness, seed, example_2_body(seed))
    await _post(harness, olivia, "complete")
    url = f"/v1/events/{seed.slug}/reservations"

    everything = (await harness.client.get(url, headers=auth())).json()
    complete = (await harness.client.get(url, params={"status": "COMPLETE"}, headers=auth())).json()
    by_email = (await harness.client.get(url, params={"q": "JANE.DOE@"}, headers=auth())).json()
    by_name = (
        await harness.client.get(url, params={"q": "olivia organizer"}, headers=auth())
    ).json()
    second_page = (
        await harness.client.get(url, params={"page": 2, "page_size": 1}, headers=auth())
    ).json()
    bad_status = await harness.client.get(url, params={"status": "NOPE"}, headers=auth())

    assert everything["total"] == 2
    assert [r["id"] for r in complete["items"]] == [olivia]
    assert [r["id"] for r in by_email["items"]] == [jane]
    assert [r["id"] for r in by_name["items"]] == [olivia]
    assert second_page["total"] == 2
    assert len(second_page["items"]) == 1
    assert bad_status.status_code == 422


async def test_unknown_reservations_are_404(harness: Harness) -> None:
    response = await harness.client.get(f"/v1/reservations/{uuid.uuid4()}", headers=auth())

    assert response.status_code == 404


async def test_a_repeated_answer_changes_nothing(harness: Harness) -> None:
    seed = await harness.seed_event()
    body = {**example_2_body(seed), "add_seats_if_not_available": True}
    reservation_id = await _pending(harness, seed, body)
    [hold] = await harness.hold_commands()

    await harness.answer(hold, "hold")  # the same outcome in a new envelope
    await harness.answer(hold, "refuse")  # a stale refusal

    assert hold.add_seats_if_not_available is True
    assert len(await harness.messages(ReservationPending)) == 1
    assert await harness.messages(ReleaseSeats) == []
    fetched = await harness.client.get(f"/v1/reservations/{reservation_id}", headers=auth())
    assert fetched.json()["status"] == "PENDING"
