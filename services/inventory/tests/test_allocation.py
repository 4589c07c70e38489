"""The pure allocation rules, including a property test over random operations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boxoffice.contracts.common import Channel, Visibility
from boxoffice.contracts.inventory import RefusalReason
from boxoffice.inventory.allocation import (
    CategoryState,
    EventState,
    ExistingCategoryLine,
    HoldPlan,
    HoldRequest,
    NewCategoryLine,
    Refusal,
    invariant_violations,
    plan_hold,
    unallocated,
)

GA = CategoryState(uuid.uuid4(), "General Admission", Visibility.PUBLIC, 10000, None)
SPEAKERS = CategoryState(uuid.uuid4(), "Speakers", Visibility.HIDDEN, 0, 10)
TEAM = CategoryState(uuid.uuid4(), "Team", Visibility.HIDDEN, 0, 5)
SEED = EventState(capacity=200, public_reservation_limit=5)


def _request(*lines: ExistingCategoryLine | NewCategoryLine, **options: object) -> HoldRequest:
    return HoldRequest(
        channel=options.get("channel", Channel.BACKOFFICE),  # type: ignore[arg-type]
        lines=lines,
        add_seats_if_not_available=bool(options.get("add", False)),
    )


def test_the_guide_example_leaves_175_general_admission_seats() -> None:
    plan = plan_hold(
        SEED,
        [GA, SPEAKERS, TEAM],
        _request(ExistingCategoryLine(GA.id, 9), NewCategoryLine("Group discount", 0, 1)),
    )

    assert isinstance(plan, HoldPlan)
    assert plan.capacity == 200
    group = next(c for c in plan.categories if c.name == "Group discount")
    assert (group.visibility, group.max_seats, group.held) == (Visibility.HIDDEN, 1, 1)
    assert plan.created == {group.id}
    after = [c for c in (GA, SPEAKERS, TEAM) if c.id != GA.id] + list(plan.categories)
    assert unallocated(plan.capacity, after) == 175


def test_lines_naming_the_same_new_category_share_it() -> None:
    plan = plan_hold(
        SEED,
        [GA],
        _request(NewCategoryLine("Press", 0, 2), NewCategoryLine("press", 0, 3)),
    )

    assert isinstance(plan, HoldPlan)
    [press] = plan.categories
    assert (press.max_seats, press.held) == (5, 5)
    assert plan.lines[0].category_id == plan.lines[1].category_id == press.id


def test_new_category_lines_must_agree_on_a_price_and_have_a_name() -> None:
    mixed = plan_hold(
        SEED, [GA], _request(NewCategoryLine("Press", 0, 2), NewCategoryLine("press", 100, 3))
    )
    blank = plan_hold(SEED, [GA], _request(NewCategoryLine("   ", 0, 1)))
    namesake = plan_hold(SEED, [GA], _request(NewCategoryLine("general admission", 10000, 1)))

    assert isinstance(mixed, Refusal)
    assert mixed.reason is RefusalReason.INVALID_REQUEST
    assert [line.line_index for line in mixed.lines] == [1]
    assert isinstance(blank, Refusal)
    assert blank.reason is RefusalReason.INVALID_REQUEST
    assert isinstance(namesake, HoldPlan)
    assert namesake.lines[0].category_id == GA.id
    assert not namesake.created


def test_refusal_reasons_come_in_a_fixed_order() -> None:
    unknown = ExistingCategoryLine(uuid.uuid4(), 1)
    too_many = ExistingCategoryLine(GA.id, 6)
    public = {"channel": Channel.PUBLIC}

    hidden = plan_hold(SEED, [GA, SPEAKERS], _request(too_many, unknown, **public))
    limit = plan_hold(SEED, [GA, SPEAKERS], _request(too_many, **public))

    assert isinstance(hidden, Refusal)
    assert hidden.reason is RefusalReason.CATEGORY_NOT_FOUND
    assert isinstance(limit, Refusal)
    assert limit.reason is RefusalReason.LIMIT_EXCEEDED


def test_capacity_growth_needs_the_flag_and_stays_bounded() -> None:
    event = EventState(capacity=20, public_reservation_limit=5)
    ticket = replace(GA, held=5, sold=5)

    refused = plan_hold(event, [ticket], _request(ExistingCategoryLine(GA.id, 11)))
    grown = plan_hold(event, [ticket], _request(ExistingCategoryLine(GA.id, 11), add=True))
    absurd = plan_hold(event, [ticket], _request(ExistingCategoryLine(GA.id, 2_000_000)))

    assert isinstance(refused, Refusal)
    assert [(line.asked, line.available) for line in refused.lines] == [(11, 10)]
    assert isinstance(grown, HoldPlan)
    assert grown.capacity == 21
    assert isinstance(absurd, Refusal)
    assert absurd.reason is RefusalReason.INVALID_REQUEST


# --- property: random holds, confirmations and releases keep the invariant ---


@dataclass
class Model:
    """An in-memory inventory applying plans the way the service does."""

    event: EventState
    categories: dict[uuid.UUID, CategoryState]
    holds: dict[int, tuple[str, list[tuple[uuid.UUID, int]]]] = field(default_factory=dict)

    def hold(self, reservation: int, request: HoldRequest) -> HoldPlan | Refusal | None:
        if reservation in self.holds and self.holds[reservation][0] != "released":
            return None
        decision = plan_hold(self.event, list(self.categories.values()), request)
        if isinstance(decision, HoldPlan):
            assert decision.capacity >= self.event.capacity
            if decision.capacity > self.event.capacity:
                assert request.add_seats_if_not_available
                assert request.channel is Channel.BACKOFFICE
            for category in decision.categories:
                self.categories[category.id] = category
            self.event = replace(self.event, capacity=decision.capacity)
            self.holds[reservation] = (
                "held",
                [(line.category_id, line.quantity) for line in decision.lines],
            )
        return decision

    def move(self, reservation: int, status: str) -> None:
        current, lines = self.holds.get(reservation, ("unknown", []))
        if (current, status) not in {("held", "sold"), ("held", "released"), ("sold", "released")}:
            return
        for category_id, quantity in lines:
            category = self.categories[category_id]
            held = category.held - (quantity if current == "held" else 0)
            sold = category.sold + (quantity if status == "sold" else 0)
            sold -= quantity if current == "sold" else 0
            self.categories[category_id] = replace(category, held=held, sold=sold)
        self.holds[reservation] = (status, lines)


CATEGORIES = [
    CategoryState(uuid.UUID(int=1), "Public dynamic", Visibility.PUBLIC, 1000, None),
    CategoryState(uuid.UUID(int=2), "Public bounded", Visibility.PUBLIC, 500, 4),
    CategoryState(uuid.UUID(int=3), "Hidden bounded", Visibility.HIDDEN, 0, 3),
    CategoryState(uuid.UUID(int=4), "Hidden dynamic", Visibility.HIDDEN, 0, None),
]

lines = st.one_of(
    st.builds(
        ExistingCategoryLine,
        category_id=st.sampled_from([c.id for c in CATEGORIES] + [uuid.UUID(int=99)]),
        quantity=st.integers(1, 8),
    ),
    st.builds(
        NewCategoryLine,
        name=st.sampled_from(["Group discount", "Press"]),
        price_minor=st.sampled_from([0, 0, 100]),
        quantity=st.integers(1, 4),
    ),
)
requests = st.builds(
    HoldRequest,
    channel=st.sampled_from(Channel),
    lines=st.lists(lines, min_size=1, max_size=3),
    add_seats_if_not_available=st.booleans(),
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("hold"), st.integers(0, 12), requests),
        st.tuples(st.sampled_from(["sold", "released"]), st.integers(0, 12), st.none()),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(capacity=st.integers(7, 30), limit=st.integers(1, 6), steps=operations)
def test_random_operations_never_break_the_invariant(
    capacity: int, limit: int, steps: list[tuple[str, int, HoldRequest | None]]
) -> None:
    model = Model(EventState(capacity, limit), {category.id: category for category in CATEGORIES})
    for operation, reservation, request in steps:
        before = (model.event, dict(model.categories))
        if request is not None:
            decision = model.hold(reservation, request)
            if isinstance(decision, Refusal):
                assert (model.event, model.categories) == before
                assert decision.reason is not RefusalReason.EVENT_NOT_FOUND
            if isinstance(decision, HoldPlan) and request.channel is Channel.PUBLIC:
                assert sum(line.quantity for line in decision.lines) <= limit
                assert not decision.created
                assert all(
                    model.categories[line.category_id].visibility is Visibility.PUBLIC
                    for line in decision.lines
                )
                assert all(
                    category.max_seats == before[1][category.id].max_seats
                    for category in decision.categories
                )
        else:
            model.move(reservation, operation)
        assert invariant_violations(model.event.capacity, list(model.categories.values())) == []
