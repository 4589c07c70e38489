"""Seat holds through the command handler, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from boxoffice.contracts.common import Channel
from boxoffice.contracts.envelope import Envelope, Message
from boxoffice.contracts.inventory import (
    CategoryUpserted,
    ConfirmSeats,
    EventUpserted,
    HoldSeats,
    RefusalReason,
    ReleaseSeats,
    SeatsConfirmed,
    SeatsHeld,
    SeatsRefused,
    SeatsReleased,
)
from services.inventory.tests.support import (
    InventoryHarness,
    assert_invariant,
    auth,
    by_type,
    command,
    event_body,
    existing,
    new,
    outcome,
    seats_held,
    seats_refused,
)


def _category(event: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in event["categories"] if c["name"] == name)
    return found


async def _seed(inventory: InventoryHarness) -> tuple[dict[str, Any], dict[str, str]]:
    """Create the guide's event; returns it and its category ids by name."""
    event = await inventory.create_event(event_body())
    await inventory.published()
    return event, {category["name"]: category["id"] for category in event["categories"]}


async def _small_event(
    inventory: InventoryHarness, capacity: int, max_seats: int | None, slug: str = "small"
) -> tuple[str, str]:
    """An event with one category; returns the event and category ids."""
    event = await inventory.create_event(
        event_body(
            slug=slug,
            capacity=capacity,
            categories=[
                {"name": "Ticket", "visibility": "public", "price": "10.00", "max_seats": max_seats}
            ],
        )
    )
    await inventory.published()
    return event["id"], event["categories"][0]["id"]


async def test_seed_event_shows_185_10_5_available(inventory: InventoryHarness) -> None:
    event = await inventory.create_event(event_body())

    available = {c["name"]: c["available"] for c in event["categories"]}
    assert available == {"General Admission": 185, "Speakers": 10, "Team": 5}
    assert event["seats"] == {
        "capacity": 200,
        "reserved_for_bounded": 15,
        "unallocated": 185,
        "held": 0,
        "sold": 0,
        "available": 200,
    }
    assert _category(event, "General Admission")["price"] == "100.00"
    published = await inventory.published()
    assert [type(m.data) for m in published] == [EventUpserted] + [CategoryUpserted] * 3
    assert all(m.data.version == 1 for m in published)  # type: ignore[attr-defined]
    assert all(m.subject == event["id"] for m in published)


async def test_group_discount_creates_a_hidden_bounded_category(
    inventory: InventoryHarness,
) -> None:
    event, ids = await _seed(inventory)

    hold, published = await inventory.hold(
        event["id"], existing(ids["General Admission"], 9), new("Group discount", 0, 1)
    )

    held = seats_held(published)
    assert held.currency == "EUR"
    assert [(line.line_index, line.category_name, line.quantity) for line in held.lines] == [
        (0, "General Admission", 9),
        (1, "Group discount", 1),
    ]
    assert [line.unit_price_minor for line in held.lines] == [10000, 0]
    assert [line.category_created for line in held.lines] == [False, True]
    # Upserts travel before the outcome, so a replica knows the new category first.
    assert isinstance(published[-1].data, SeatsHeld)
    upserts = {u.name: u for u in by_type(published, CategoryUpserted)}
    assert upserts["General Admission"].held == 9
    assert upserts["General Admission"].version == 2
    assert upserts["Group discount"].created_on_the_fly
    assert upserts["Group discount"].max_seats == 1
    assert upserts["Group discount"].category_id == held.lines[1].category_id
    for message in published:
        assert message.correlationid == hold.correlationid
        assert message.causationid == hold.id
    assert published[-1].subject == str(held.reservation_id)
    assert {m.subject for m in published[:-1]} == {event["id"]}

    shown = await inventory.get_event(event["slug"])
    assert _category(shown, "General Admission")["available"] == 175
    group = _category(shown, "Group discount")
    assert (group["visibility"], group["max_seats"], group["held"], group["available"]) == (
        "hidden",
        1,
        1,
        0,
    )
    assert group["price"] == "0.00"
    assert shown["seats"]["unallocated"] == 175


async def test_new_category_is_reused_and_grows_from_the_pool(
    inventory: InventoryHarness,
) -> None:
    event, ids = await _seed(inventory)
    _, published = await inventory.hold(
        event["id"], existing(ids["General Admission"], 9), new("Group discount", 0, 1)
    )
    group_id = seats_held(published).lines[1].category_id

    _, by_id = await inventory.hold(event["id"], existing(group_id, 2))
    _, by_name = await inventory.hold(event["id"], new("  group   DISCOUNT ", 0, 1))

    for published in (by_id, by_name):
        held = seats_held(published)
        assert held.lines[0].category_id == group_id
        assert not held.lines[0].category_created
    shown = await inventory.get_event(event["slug"])
    assert [c["name"] for c in shown["categories"]].count("Group discount") == 1
    group = _category(shown, "Group discount")
    assert (group["max_seats"], group["held"]) == (4, 4)
    assert _category(shown, "General Admission")["available"] == 172


async def test_new_category_with_an_existing_name_and_another_price_is_refused(
    inventory: InventoryHarness,
) -> None:
    event, _ = await _seed(inventory)
    before = await inventory.state()

    _, published = await inventory.hold(event["id"], new("speakers", 500, 1))

    refused = seats_refused(published)
    assert refused.reason is RefusalReason.INVALID_REQUEST
    assert await inventory.state() == before


async def test_bounded_category_short_of_seats_grows_from_the_pool(
    inventory: InventoryHarness,
) -> None:
    event, _ = await _seed(inventory)
    response = await inventory.client.post(
        f"/v1/events/{event['slug']}/categories",
        json={"name": "Press", "visibility": "hidden", "price": "0", "max_seats": 1},
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    press = response.json()

    _, published = await inventory.hold(event["id"], existing(press["id"], 2))

    seats_held(published)
    shown = await inventory.get_event(event["slug"])
    assert (_category(shown, "Press")["max_seats"], _category(shown, "Press")["held"]) == (2, 2)
    assert _category(shown, "General Admission")["available"] == 183
    assert shown["capacity"] == 200


@pytest.mark.parametrize("max_seats", [None, 20], ids=["dynamic", "bounded"])
async def test_capacity_grows_only_with_add_seats_if_not_available(
    inventory: InventoryHarness, max_seats: int | None
) -> None:
    event_id, category_id = await _small_event(inventory, 20, max_seats)
    before = await inventory.state()

    _, refused_messages = await inventory.hold(event_id, existing(category_id, 21))

    refused = seats_refused(refused_messages)
    assert refused.reason is RefusalReason.NOT_ENOUGH_SEATS
    assert [(line.line_index, line.asked, line.available) for line in refused.lines] == [
        (0, 21, 20)
    ]
    assert refused_messages == [refused_messages[-1]]  # nothing but the refusal
    assert await inventory.state() == before

    _, published = await inventory.hold(
        event_id, existing(category_id, 21), add_seats_if_not_available=True
    )

    seats_held(published)
    [event_upsert] = by_type(published, EventUpserted)
    assert (event_upsert.capacity, event_upsert.version) == (21, 2)
    [category_upsert] = by_type(published, CategoryUpserted)
    assert category_upsert.held == 21
    assert category_upsert.max_seats == (None if max_seats is None else 21)
    shown = await inventory.get_event("small")
    assert shown["capacity"] == 21
    assert shown["seats"]["available"] == 0


async def test_public_hold_above_the_limit_is_refused(inventory: InventoryHarness) -> None:
    event, ids = await _seed(inventory)
    before = await inventory.state()

    _, published = await inventory.hold(
        event["id"],
        existing(ids["General Admission"], 4),
        existing(ids["General Admission"], 2),
        channel=Channel.PUBLIC,
    )

    refused = seats_refused(published)
    assert refused.reason is RefusalReason.LIMIT_EXCEEDED
    assert [(line.asked, line.available) for line in refused.lines] == [(4, 185), (2, 185)]
    assert await inventory.state() == before

    _, published = await inventory.hold(
        event["id"], existing(ids["General Admission"], 5), channel=Channel.PUBLIC
    )
    seats_held(published)


@pytest.mark.parametrize("line", ["hidden", "unknown", "new"])
async def test_public_hold_of_a_hidden_unknown_or_new_category_is_refused(
    inventory: InventoryHarness, line: str
) -> None:
    event, ids = await _seed(inventory)
    before = await inventory.state()
    hold_line = {
        "hidden": existing(ids["Speakers"], 1),
        "unknown": existing(uuid.uuid4(), 1),
        "new": new("Group discount", 0, 1),
    }[line]

    _, published = await inventory.hold(
        event["id"], existing(ids["General Admission"], 1), hold_line, channel=Channel.PUBLIC
    )

    refused = seats_refused(published)
    assert refused.reason is RefusalReason.CATEGORY_NOT_FOUND
    assert [(r.line_index, r.asked, r.available) for r in refused.lines] == [(1, 1, 0)]
    assert await inventory.state() == before


async def test_public_hold_never_grows_a_bounded_category(inventory: InventoryHarness) -> None:
    event_id, category_id = await _small_event(inventory, 20, 2)
    before = await inventory.state()

    _, published = await inventory.hold(event_id, existing(category_id, 3), channel=Channel.PUBLIC)

    refused = seats_refused(published)
    assert refused.reason is RefusalReason.NOT_ENOUGH_SEATS
    assert [(line.asked, line.available) for line in refused.lines] == [(3, 2)]
    assert await inventory.state() == before


async def test_backoffice_hold_of_an_unknown_category_or_event_is_refused(
    inventory: InventoryHarness,
) -> None:
    event, ids = await _seed(inventory)
    before = await inventory.state()

    _, unknown_category = await inventory.hold(event["id"], existing(uuid.uuid4(), 1))
    _, unknown_event = await inventory.hold(uuid.uuid4(), existing(ids["Team"], 1))

    assert seats_refused(unknown_category).reason is RefusalReason.CATEGORY_NOT_FOUND
    assert seats_refused(unknown_event).reason is RefusalReason.EVENT_NOT_FOUND
    assert await inventory.state() == before


async def test_a_hold_is_all_or_nothing(inventory: InventoryHarness) -> None:
    event, ids = await _seed(inventory)
    before = await inventory.state()

    _, published = await inventory.hold(
        event["id"],
        existing(ids["General Admission"], 100),
        new("Sponsors", 0, 50),
        existing(ids["General Admission"], 40),
    )

    refused = seats_refused(published)
    assert refused.reason is RefusalReason.NOT_ENOUGH_SEATS
    # Lines are served in order: 100 + 50 leave 35 for the third line.
    assert [(line.line_index, line.asked, line.available) for line in refused.lines] == [
        (2, 40, 35)
    ]
    assert await inventory.state() == before


async def test_confirm_then_release_frees_the_seats(inventory: InventoryHarness) -> None:
    event, ids = await _seed(inventory)
    reservation_id = uuid.uuid4()
    await inventory.hold(
        event["id"],
        existing(ids["General Admission"], 3),
        existing(ids["Team"], 2),
        reservation_id=reservation_id,
    )

    confirmed = await inventory.confirm(event["id"], reservation_id)

    assert len(by_type(confirmed, SeatsConfirmed)) == 1
    assert {(u.name, u.held, u.sold) for u in by_type(confirmed, CategoryUpserted)} == {
        ("General Admission", 0, 3),
        ("Team", 0, 2),
    }
    shown = await inventory.get_event(event["slug"])
    assert (shown["seats"]["held"], shown["seats"]["sold"]) == (0, 5)
    assert _category(shown, "General Admission")["available"] == 182

    again = await inventory.confirm(event["id"], reservation_id)
    assert [type(m.data) for m in again] == [SeatsConfirmed]

    released = await inventory.release(event["id"], reservation_id, "cancelled by organizer")

    [answer] = by_type(released, SeatsReleased)
    assert answer.reason == "cancelled by organizer"
    shown = await inventory.get_event(event["slug"])
    assert (shown["seats"]["held"], shown["seats"]["sold"]) == (0, 0)
    assert _category(shown, "General Admission")["available"] == 185
    assert _category(shown, "Team")["available"] == 5

    state = await inventory.state()
    assert [type(m.data) for m in await inventory.release(event["id"], reservation_id)] == [
        SeatsReleased
    ]
    assert await inventory.state() == state


async def test_release_of_held_seats_and_rehold_after_release(
    inventory: InventoryHarness,
) -> None:
    event, ids = await _seed(inventory)
    reservation_id = uuid.uuid4()
    await inventory.hold(event["id"], existing(ids["Speakers"], 10), reservation_id=reservation_id)
    await inventory.release(event["id"], reservation_id, "expired")
    assert _category(await inventory.get_event(event["slug"]), "Speakers")["available"] == 10

    # A reinstated reservation holds again under the same id.
    _, published = await inventory.hold(
        event["id"], existing(ids["Speakers"], 4), reservation_id=reservation_id
    )

    held = seats_held(published)
    assert held.lines[0].quantity == 4
    assert _category(await inventory.get_event(event["slug"]), "Speakers")["held"] == 4


async def test_confirm_of_seats_not_held_changes_nothing(inventory: InventoryHarness) -> None:
    event, ids = await _seed(inventory)
    _, refused = await inventory.hold(event["id"], existing(ids["Team"], 300))
    before = await inventory.state()

    assert await inventory.confirm(event["id"], uuid.uuid4()) == []
    assert await inventory.confirm(event["id"], outcome(refused).reservation_id) == []
    assert await inventory.confirm(uuid.uuid4(), uuid.uuid4()) == []
    assert await inventory.state() == before


async def test_repeated_hold_is_held_once_and_answered_the_same(
    inventory: InventoryHarness,
) -> None:
    event, ids = await _seed(inventory)
    reservation_id = uuid.uuid4()
    lines = (existing(ids["General Admission"], 2), new("Group discount", 0, 1))
    first, published = await inventory.hold(event["id"], *lines, reservation_id=reservation_id)
    state = await inventory.state()

    # The same message again: the inbox drops it.
    assert await inventory.deliver(first) == []
    # The same hold in a new message: answered with the same outcome, nothing held.
    _, repeated = await inventory.hold(event["id"], *lines, reservation_id=reservation_id)

    assert [type(m.data) for m in repeated] == [SeatsHeld]
    assert repeated[0].data == outcome(published)
    assert await inventory.state() == state

    # Also after confirmation, and for a refusal.
    await inventory.confirm(event["id"], reservation_id)
    _, after_confirm = await inventory.hold(event["id"], *lines, reservation_id=reservation_id)
    assert after_confirm[0].data == outcome(published)
    refused_id = uuid.uuid4()
    _, refused = await inventory.hold(
        event["id"], existing(ids["Team"], 300), reservation_id=refused_id
    )
    _, refused_again = await inventory.hold(
        event["id"], existing(ids["Team"], 1), reservation_id=refused_id
    )
    assert [m.data for m in refused_again] == [outcome(refused)]
    seats_refused(refused)


def _hold_command(
    event_id: str, category_id: str, seats: int, reservation_id: uuid.UUID
) -> Envelope[Message]:
    """A backoffice ``HoldSeats`` of ``seats`` in one existing category."""
    return command(
        HoldSeats(
            event_id=uuid.UUID(event_id),
            reservation_id=reservation_id,
            channel=Channel.BACKOFFICE,
            lines=[existing(category_id, seats)],
        ),
        correlationid=str(reservation_id),
    )


async def test_a_batch_publishes_each_changed_category_once_before_its_outcomes(
    inventory: InventoryHarness,
) -> None:
    event_id, category_id = await _small_event(inventory, 20, None)
    reservations = [uuid.uuid4() for _ in range(5)]
    holds = [
        _hold_command(event_id, category_id, 2, reservation_id) for reservation_id in reservations
    ]
    # Five holds and a release of the first, applied as one fetched batch.
    release = command(
        ReleaseSeats(event_id=uuid.UUID(event_id), reservation_id=reservations[0], reason="x")
    )

    published = await inventory.deliver_batch([*holds, release])

    [upsert] = by_type(published, CategoryUpserted)
    assert (upsert.held, upsert.sold) == (8, 0)  # the final state: 5 x 2 held, 2 released
    assert isinstance(published[0].data, CategoryUpserted)  # before every outcome
    assert [type(message.data) for message in published[1:]] == [SeatsHeld] * 5 + [SeatsReleased]
    assert [seats.reservation_id for seats in by_type(published, SeatsHeld)] == reservations
    shown = await inventory.get_event("small")
    assert shown["seats"]["held"] == 8
    await assert_invariant(inventory.runtime.sessions)


def _mixed_commands(event_id: str, ids: dict[str, str]) -> list[Any]:
    """Commands of every kind for one event, in an order that makes them interact.

    Returned as ``(kind, reservation number, payload)``: the caller turns them into
    envelopes for a given event (the same script runs against two events).
    """
    return [
        ("hold", 0, [("General Admission", 3)]),
        ("hold", 1, [("Speakers", 8)]),
        ("hold", 2, [("Speakers", 4)]),  # grows Speakers from the pool
        ("hold", 3, [("new:Group discount", 2), ("Team", 1)]),
        ("hold", 4, [("new:Group discount", 1)]),  # reuses the category created above
        ("hold", 5, [("Team", 500)]),  # refused: the pool is too small
        ("release", 1, None),
        ("hold", 1, [("Team", 2)]),  # released, then held again, in the same batch
        ("confirm", 0, None),
        ("release", 0, None),  # sold seats released
        ("confirm", 9, None),  # holds nothing: ignored
        ("hold", 6, [("General Admission", 500)]),  # refused
        ("hold", 7, [("General Admission", 190)]),  # capacity grows
        ("hold", 3, [("Team", 1)]),  # repeated: answered again, nothing held
        ("release", 8, None),  # holds nothing: released trivially
    ]


def _script_envelopes(
    script: list[Any], event_id: str, ids: dict[str, str], reservations: list[uuid.UUID]
) -> list[Any]:
    envelopes = []
    for kind, number, lines in script:
        reservation_id = reservations[number]
        data: Any
        if kind == "hold":
            data = HoldSeats(
                event_id=uuid.UUID(event_id),
                reservation_id=reservation_id,
                channel=Channel.BACKOFFICE,
                add_seats_if_not_available=number == 7,
                lines=[
                    new(name.removeprefix("new:"), 500, quantity)
                    if name.startswith("new:")
                    else existing(ids[name], quantity)
                    for name, quantity in lines
                ],
            )
        elif kind == "confirm":
            data = ConfirmSeats(event_id=uuid.UUID(event_id), reservation_id=reservation_id)
        else:
            data = ReleaseSeats(
                event_id=uuid.UUID(event_id), reservation_id=reservation_id, reason="x"
            )
        envelopes.append(command(data, correlationid=str(reservation_id)))
    return envelopes


def _comparable(messages: list[Any], event_id: str, reservations: list[uuid.UUID]) -> list[Any]:
    """Published messages with the event's own ids replaced by neutral names."""
    names = {str(reservation_id): f"r{n}" for n, reservation_id in enumerate(reservations)}
    names[event_id] = "event"
    shown = []
    for message in messages:
        data = message.data.model_dump(mode="json")
        if isinstance(message.data, CategoryUpserted | EventUpserted):
            continue  # coalesced per batch: compared through the final state instead
        for key in ("event_id", "reservation_id"):
            if key in data:
                data[key] = names.get(data[key], data[key])
        for line in data.get("lines", []):
            line.pop("category_id", None)
        shown.append((type(message.data).__name__, data))
    return shown


async def _final_state(inventory: InventoryHarness, slug: str) -> Any:
    event = await inventory.get_event(slug)
    return (
        event["capacity"],
        event["seats"],
        sorted(
            (c["name"], c["visibility"], c["max_seats"], c["held"], c["sold"], c["available"])
            for c in event["categories"]
        ),
    )


async def test_a_batch_decides_exactly_as_the_same_commands_one_by_one(
    inventory: InventoryHarness,
) -> None:
    """Every kind of command, interacting, in one batch: same outcomes, same seats."""
    script = None
    results = []
    for slug, batched in (("one-by-one", False), ("batched", True)):
        event = await inventory.create_event(event_body(slug=slug))
        await inventory.published()
        ids = {category["name"]: category["id"] for category in event["categories"]}
        script = _mixed_commands(event["id"], ids)
        reservations = [uuid.uuid4() for _ in range(10)]
        envelopes = _script_envelopes(script, event["id"], ids, reservations)
        if batched:
            published = await inventory.deliver_batch(envelopes)
        else:
            published = [m for envelope in envelopes for m in await inventory.deliver(envelope)]
        results.append(
            (
                _comparable(published, event["id"], reservations),
                await _final_state(inventory, slug),
            )
        )
    (one_by_one, state_one), (batched_messages, state_batched) = results
    assert batched_messages == one_by_one
    assert state_batched == state_one
    kinds = [kind for kind, _ in one_by_one]
    assert kinds.count("SeatsRefused") == 2
    assert kinds.count("SeatsHeld") == 8
    await assert_invariant(inventory.runtime.sessions)


async def test_a_batch_over_two_events_and_a_missing_one(inventory: InventoryHarness) -> None:
    first, first_category = await _small_event(inventory, 10, None, slug="first")
    second, second_category = await _small_event(inventory, 10, 4, slug="second")
    missing = str(uuid.uuid4())
    reservations = [uuid.uuid4() for _ in range(4)]
    batch = [
        _hold_command(event_id, category_id, seats, reservation_id)
        for event_id, category_id, seats, reservation_id in (
            (first, first_category, 6, reservations[0]),
            (second, second_category, 4, reservations[1]),
            (missing, first_category, 1, reservations[2]),
            (second, second_category, 7, reservations[3]),
        )
    ]

    published = await inventory.deliver_batch(batch)

    outcomes = {
        message.data.reservation_id: message.data
        for message in published
        if isinstance(message.data, SeatsHeld | SeatsRefused)
    }
    assert isinstance(outcomes[reservations[0]], SeatsHeld)
    assert isinstance(outcomes[reservations[1]], SeatsHeld)
    refused_missing = outcomes[reservations[2]]
    assert isinstance(refused_missing, SeatsRefused)
    assert refused_missing.reason is RefusalReason.EVENT_NOT_FOUND
    assert isinstance(outcomes[reservations[3]], SeatsRefused)  # more than the pool
    assert (await inventory.get_event("first"))["seats"]["held"] == 6
    assert (await inventory.get_event("second"))["seats"]["held"] == 4
    await assert_invariant(inventory.runtime.sessions)
