"""Seat allocation rules, as pure functions over a snapshot of one event.

Everything that decides whether seats can be held lives here, free of I/O, so the
same code answers a ``HoldSeats`` command, shows availability over HTTP and is
exercised by property tests.

Vocabulary (alf.io semantics):

- a *bounded* category has ``max_seats``: that many seats are reserved for it out of
  the event capacity, whether sold or not;
- a *dynamic* category (``max_seats`` is None) draws from the *unallocated pool*:
  ``capacity - sum(bounded max_seats) - sum(dynamic held + sold)``;
- the invariant: every bounded category has ``held + sold <= max_seats`` and the
  event has ``sum(bounded max_seats) + sum(dynamic held + sold) <= capacity``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from uuid import UUID

from boxoffice.contracts.common import Channel, Visibility
from boxoffice.contracts.inventory import RefusalReason

MAX_SEATS = 1_000_000
"""Upper bound of an event capacity (and so of any seat count) this service accepts."""

MAX_PRICE_MINOR = 10**12
"""Upper bound of a price in minor units (a billion in major units, 3 decimals)."""


@dataclass(frozen=True)
class CategoryState:
    """A ticket category as the allocation rules see it."""

    id: UUID
    name: str
    visibility: Visibility
    price_minor: int
    max_seats: int | None
    held: int = 0
    sold: int = 0

    @property
    def is_bounded(self) -> bool:
        """Whether the category has seats reserved for it out of the capacity."""
        return self.max_seats is not None

    @property
    def used(self) -> int:
        """Seats held or sold in the category."""
        return self.held + self.sold


@dataclass(frozen=True)
class EventState:
    """The seat figures of an event as the allocation rules see them."""

    capacity: int
    public_reservation_limit: int


def allocated(categories: Iterable[CategoryState]) -> int:
    """Seats taken out of the capacity: bounded ``max_seats`` plus dynamic held+sold."""
    return sum(
        category.max_seats if category.max_seats is not None else category.used
        for category in categories
    )


def unallocated(capacity: int, categories: Iterable[CategoryState]) -> int:
    """The pool dynamic categories draw from and bounded ones grow from."""
    return capacity - allocated(categories)


def available_in(category: CategoryState, pool: int) -> int:
    """Seats a hold could take from a category without growing anything."""
    if category.max_seats is None:
        return max(pool, 0)
    return max(category.max_seats - category.used, 0)


def invariant_violations(capacity: int, categories: Sequence[CategoryState]) -> list[str]:
    """Describe every way the snapshot breaks the invariant (empty when it holds)."""
    problems = [
        f"category {category.name!r}: held {category.held} + sold {category.sold} "
        f"> max_seats {category.max_seats}"
        for category in categories
        if category.max_seats is not None and category.used > category.max_seats
    ]
    problems += [
        f"category {category.name!r}: negative held or sold"
        for category in categories
        if category.held < 0 or category.sold < 0
    ]
    if allocated(categories) > capacity:
        problems.append(f"event: allocated {allocated(categories)} > capacity {capacity}")
    return problems


# --- hold requests and their outcome ---


@dataclass(frozen=True)
class ExistingCategoryLine:
    """Seats asked in a category named by id."""

    category_id: UUID
    quantity: int


@dataclass(frozen=True)
class NewCategoryLine:
    """Seats asked in a category named by name and price (created when missing)."""

    name: str
    price_minor: int
    quantity: int


HoldLineRequest = ExistingCategoryLine | NewCategoryLine


@dataclass(frozen=True)
class HoldRequest:
    """What a ``HoldSeats`` command asks, independent of the message format."""

    channel: Channel
    lines: Sequence[HoldLineRequest]
    add_seats_if_not_available: bool = False


@dataclass(frozen=True)
class PlannedLine:
    """One line of a hold that can be served."""

    line_index: int
    category_id: UUID
    category_name: str
    quantity: int
    unit_price_minor: int
    category_created: bool


@dataclass(frozen=True)
class HoldPlan:
    """Everything a granted hold changes, to be applied as one transaction.

    Attributes:
        lines: the held lines, in the order of the request.
        categories: the categories after the hold (held counts, grown or new
            ``max_seats``), only those the hold touches.
        created: ids of the categories created on the fly.
        capacity: the event capacity after the hold (grown only with
            ``add_seats_if_not_available``).
    """

    lines: tuple[PlannedLine, ...]
    categories: tuple[CategoryState, ...]
    created: frozenset[UUID]
    capacity: int


@dataclass(frozen=True)
class RefusedLineDetail:
    """A line that cannot be served: how many seats were asked and are available."""

    line_index: int
    category_id: UUID | None
    category_name: str | None
    asked: int
    available: int


@dataclass(frozen=True)
class Refusal:
    """Why nothing of a hold can be granted."""

    reason: RefusalReason
    message: str
    lines: tuple[RefusedLineDetail, ...] = ()


def category_name_key(name: str) -> str:
    """Category names are unique per event, ignoring case and surrounding blanks."""
    return " ".join(name.split()).casefold()


@dataclass
class _Working:
    """Mutable scratch state of one planning run."""

    capacity: int
    categories: dict[UUID, CategoryState]
    order: list[UUID] = field(default_factory=list)
    created: set[UUID] = field(default_factory=set)
    touched: set[UUID] = field(default_factory=set)

    @property
    def pool(self) -> int:
        return unallocated(self.capacity, self.categories.values())

    def put(self, category: CategoryState) -> None:
        if category.id not in self.categories:
            self.order.append(category.id)
        self.categories[category.id] = category
        self.touched.add(category.id)


def plan_hold(
    event: EventState,
    categories: Sequence[CategoryState],
    request: HoldRequest,
    *,
    new_category_id: Callable[[], UUID] = uuid.uuid4,
) -> HoldPlan | Refusal:
    """Decide a hold: every line is served, or nothing is and the refusal says why.

    Checks, in order (the first failing one is the answer):

    1. ``INVALID_REQUEST``: a quantity beyond any capacity, or a new category with a
       blank name, an absurd price, or another price than the category of that name;
    2. ``CATEGORY_NOT_FOUND``: an id that is not a category of the event; on the
       public channel also a hidden category or any new category;
    3. ``LIMIT_EXCEEDED``: public channel, more seats than ``public_reservation_limit``;
    4. ``NOT_ENOUGH_SEATS``: lines are served in order; a line no growth allowed by the
       channel can serve is refused with what was left for it.

    Backoffice growth, per line: a bounded category short of seats grows its
    ``max_seats`` from the unallocated pool; when the pool is short too, the event
    capacity grows only with ``add_seats_if_not_available`` (likewise for a dynamic
    category). A new category is hidden and bounded, grown from zero, so its
    ``max_seats`` ends equal to the seats asked in it.

    A line naming a *new* category whose name (ignoring case) already exists in the
    event reuses that category (the user guide: "you can reuse the Group discount
    the next time"), whatever its visibility or bounds, provided the price is the
    same; several lines naming the same new category share one. A different price is
    refused (``INVALID_REQUEST``) rather than creating two same-named categories at
    different prices or silently charging another price than asked.

    The public channel never creates or grows anything.
    """
    public = request.channel is Channel.PUBLIC
    by_id = {category.id: category for category in categories}
    by_name = {category_name_key(category.name): category for category in categories}
    invalid: list[RefusedLineDetail] = []
    missing: list[RefusedLineDetail] = []
    resolved: list[CategoryState | NewCategoryLine] = []
    pool = unallocated(event.capacity, categories)

    new_prices: dict[str, int] = {}

    for index, line in enumerate(request.lines):
        if line.quantity > MAX_SEATS:
            invalid.append(_refused_line(index, line, None, 0))
            continue
        if isinstance(line, ExistingCategoryLine):
            found = by_id.get(line.category_id)
            if found is None or (public and found.visibility is Visibility.HIDDEN):
                missing.append(_refused_line(index, line, None, 0))
            else:
                resolved.append(found)
            continue
        if public:
            missing.append(_refused_line(index, line, None, 0))
            continue
        key = category_name_key(line.name)
        same_name = by_name.get(key)
        price = same_name.price_minor if same_name is not None else new_prices.get(key)
        if not key or line.price_minor > MAX_PRICE_MINOR or price not in (None, line.price_minor):
            available = available_in(same_name, pool) if same_name is not None else 0
            invalid.append(_refused_line(index, line, same_name, available))
            continue
        new_prices[key] = line.price_minor
        resolved.append(same_name if same_name is not None else line)

    if invalid:
        return Refusal(
            RefusalReason.INVALID_REQUEST,
            "a line asks an impossible quantity, or names a new category without a name, "
            "with an impossible price, or with another price than its namesake",
            tuple(invalid),
        )
    if missing:
        return Refusal(
            RefusalReason.CATEGORY_NOT_FOUND,
            "a line names a category that does not exist"
            + (" or is not offered publicly" if public else ""),
            tuple(missing),
        )
    total = sum(line.quantity for line in request.lines)
    if public and total > event.public_reservation_limit:
        return Refusal(
            RefusalReason.LIMIT_EXCEEDED,
            f"a public reservation holds at most {event.public_reservation_limit} seats, "
            f"{total} asked",
            tuple(
                _refused_line(
                    index,
                    line,
                    target if isinstance(target, CategoryState) else None,
                    available_in(target, pool) if isinstance(target, CategoryState) else 0,
                )
                for index, (line, target) in enumerate(zip(request.lines, resolved, strict=True))
            ),
        )
    return _allocate(event, categories, request, resolved, new_category_id)


def _allocate(
    event: EventState,
    categories: Sequence[CategoryState],
    request: HoldRequest,
    resolved: Sequence[CategoryState | NewCategoryLine],
    new_category_id: Callable[[], UUID],
) -> HoldPlan | Refusal:
    may_grow = request.channel is Channel.BACKOFFICE
    working = _Working(
        capacity=event.capacity,
        categories={category.id: category for category in categories},
        order=[category.id for category in categories],
    )
    new_ids: dict[str, UUID] = {}
    planned: list[PlannedLine] = []
    short: list[RefusedLineDetail] = []

    for index, (line, target) in enumerate(zip(request.lines, resolved, strict=True)):
        if isinstance(target, NewCategoryLine):
            key = category_name_key(target.name)
            if key not in new_ids:
                new_ids[key] = new_category_id()
                working.put(
                    CategoryState(
                        id=new_ids[key],
                        name=" ".join(target.name.split()),
                        visibility=Visibility.HIDDEN,
                        price_minor=target.price_minor,
                        max_seats=0,
                    )
                )
                working.created.add(new_ids[key])
            category = working.categories[new_ids[key]]
        else:
            category = working.categories[target.id]

        quantity = line.quantity
        pool = working.pool
        if category.max_seats is None:
            shortfall = max(quantity - pool, 0)
            grown = category
        else:
            free = category.max_seats - category.used
            growth = max(quantity - free, 0)
            shortfall = max(growth - pool, 0)
            grown = replace(category, max_seats=category.max_seats + growth)
        can_serve = shortfall == 0 or (
            may_grow
            and request.add_seats_if_not_available
            and working.capacity + shortfall <= MAX_SEATS
        )
        # Growing a bounded category from the pool is a backoffice privilege.
        if grown is not category and not may_grow:
            can_serve = False
        if not can_serve:
            short.append(
                RefusedLineDetail(
                    line_index=index,
                    category_id=None if category.id in working.created else category.id,
                    category_name=category.name,
                    asked=quantity,
                    available=_available_for(category, pool, may_grow),
                )
            )
            continue
        working.capacity += shortfall
        working.put(replace(grown, held=grown.held + quantity))
        planned.append(
            PlannedLine(
                line_index=index,
                category_id=category.id,
                category_name=category.name,
                quantity=quantity,
                unit_price_minor=category.price_minor,
                category_created=category.id in working.created,
            )
        )

    if short:
        return Refusal(
            RefusalReason.NOT_ENOUGH_SEATS,
            "not enough seats for "
            + ", ".join(
                f"{line.category_name!r} ({line.asked} asked, {line.available} available)"
                for line in short
            ),
            tuple(short),
        )
    return HoldPlan(
        lines=tuple(planned),
        categories=tuple(
            working.categories[category_id]
            for category_id in working.order
            if category_id in working.touched
        ),
        created=frozenset(working.created),
        capacity=working.capacity,
    )


def _available_for(category: CategoryState, pool: int, may_grow: bool) -> int:
    """Seats a line in ``category`` could get without growing the capacity."""
    if category.max_seats is None:
        return max(pool, 0)
    free = max(category.max_seats - category.used, 0)
    return free + max(pool, 0) if may_grow else free


def _refused_line(
    index: int, line: HoldLineRequest, category: CategoryState | None, available: int
) -> RefusedLineDetail:
    if isinstance(line, ExistingCategoryLine):
        return RefusedLineDetail(
            line_index=index,
            category_id=line.category_id,
            category_name=category.name if category is not None else None,
            asked=line.quantity,
            available=available,
        )
    return RefusedLineDetail(
        line_index=index,
        category_id=category.id if category is not None else None,
        category_name=line.name,
        asked=line.quantity,
        available=available,
    )
