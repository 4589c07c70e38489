"""Property: random holds, confirmations and releases through the real handler and
database never break the invariant (recomputed from the hold rows after each step)."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boxoffice.contracts.common import Channel
from boxoffice.contracts.inventory import HoldLine, SeatsHeld, SeatsRefused
from services.inventory.tests.support import InventoryHarness, event_body, existing, new

CATEGORIES = [
    {"name": "Public dynamic", "visibility": "public", "price": "10", "max_seats": None},
    {"name": "Public bounded", "visibility": "public", "price": "5", "max_seats": 4},
    {"name": "Hidden bounded", "visibility": "hidden", "price": "0", "max_seats": 3},
    {"name": "Hidden dynamic", "visibility": "hidden", "price": "0", "max_seats": None},
]

line_specs = st.one_of(
    st.tuples(st.just("existing"), st.integers(0, len(CATEGORIES)), st.integers(1, 6)),
    st.tuples(st.just("new"), st.sampled_from(["Group discount", "Press"]), st.integers(1, 3)),
)
steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("hold"),
            st.integers(0, 7),
            st.fixed_dictionaries(
                {
                    "lines": st.lists(line_specs, min_size=1, max_size=3),
                    "channel": st.sampled_from(Channel),
                    "add": st.booleans(),
                }
            ),
        ),
        st.tuples(st.sampled_from(["confirm", "release"]), st.integers(0, 7), st.none()),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(capacity=st.integers(8, 25), operations=steps)
async def test_random_commands_keep_the_invariant(
    inventory: InventoryHarness,
    capacity: int,
    operations: list[tuple[str, int, dict[str, Any] | None]],
) -> None:
    event = await inventory.create_event(
        event_body(slug=f"prop-{uuid.uuid4().hex[:8]}", capacity=capacity, categories=CATEGORIES)
    )
    category_ids = [uuid.UUID(c["id"]) for c in event["categories"]] + [uuid.uuid4()]
    reservations = [uuid.uuid4() for _ in range(8)]
    # The last answer to each reservation's hold, and whether its seats were released.
    answered: dict[uuid.UUID, SeatsHeld | SeatsRefused] = {}
    released: set[uuid.UUID] = set()

    for operation, number, hold in operations:
        reservation_id = reservations[number]
        if hold is None:
            if operation == "confirm":
                await inventory.confirm(event["id"], reservation_id)
            else:
                await inventory.release(event["id"], reservation_id)
                if isinstance(answered.get(reservation_id), SeatsHeld):
                    released.add(reservation_id)
        else:
            lines: list[HoldLine] = [
                existing(category_ids[spec[1]], spec[2])
                if spec[0] == "existing"
                else new(str(spec[1]), 0, spec[2])
                for spec in hold["lines"]
            ]
            before = await inventory.state()
            _, published = await inventory.hold(
                event["id"],
                *lines,
                reservation_id=reservation_id,
                channel=hold["channel"],
                add_seats_if_not_available=hold["add"],
            )
            [answer] = [m.data for m in published if isinstance(m.data, SeatsHeld | SeatsRefused)]
            repeated = reservation_id in answered and reservation_id not in released
            if repeated:
                assert answer == answered[reservation_id]
            if repeated or isinstance(answer, SeatsRefused):
                assert await inventory.state() == before
            if not repeated:
                answered[reservation_id] = answer
                released.discard(reservation_id)
        await inventory.assert_invariant()
