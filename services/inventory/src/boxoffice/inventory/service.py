"""The inventory rules: events, categories and seat holds.

Every method runs inside the caller's transaction (an HTTP request or a consumed
message), writes the messages its change causes to the outbox in that same
transaction, and never commits.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from boxoffice.chassis.clock import as_utc, utcnow
from boxoffice.chassis.db import at_commit
from boxoffice.chassis.errors import ApiError, not_found
from boxoffice.chassis.outbox import Outbox
from boxoffice.contracts.envelope import Envelope, Message
from boxoffice.contracts.inventory import (
    CategoryUpserted,
    ConfirmSeats,
    EventUpserted,
    HeldLine,
    HoldSeats,
    RefusalReason,
    RefusedLine,
    ReleaseSeats,
    SeatsConfirmed,
    SeatsHeld,
    SeatsRefused,
    SeatsReleased,
)
from boxoffice.inventory.allocation import (
    CategoryState,
    EventState,
    ExistingCategoryLine,
    HoldLineRequest,
    HoldPlan,
    HoldRequest,
    NewCategoryLine,
    Refusal,
    allocated,
    category_name_key,
    plan_hold,
)
from boxoffice.inventory.models import Event, Hold, HoldLine, HoldStatus, TicketCategory
from boxoffice.inventory.money import InvalidAmount, to_minor
from boxoffice.inventory.repository import CategoryNameTaken, InventoryRepository, SlugTaken
from boxoffice.inventory.schemas import CategoryCreate, CategoryUpdate, EventCreate, EventUpdate

logger = logging.getLogger(__name__)

SOURCE = "boxoffice.inventory"
_CHANGED_CATEGORIES = "inventory_changed_categories"
"""The ``source`` of every message this service publishes."""


@dataclass(frozen=True)
class Cause:
    """What a change answers: stamped on the messages it publishes.

    Attributes:
        correlationid: the incoming message's correlation id, or the HTTP request id.
        causationid: the id of the incoming message, None for an HTTP request.
    """

    correlationid: str | None
    causationid: uuid.UUID | None = None


@dataclass(frozen=True)
class EventSnapshot:
    """An event with its categories, as read in one transaction."""

    event: Event
    categories: list[TicketCategory]


class InventoryService:
    """Applies the inventory rules and queues the resulting messages."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    # --- events and categories (HTTP) ---

    async def create_event(
        self, session: AsyncSession, organization: str, request: EventCreate, cause: Cause
    ) -> EventSnapshot:
        """Create an event with its initial categories and announce them."""
        repository = InventoryRepository(session)
        if await repository.slug_exists(request.slug):
            raise _slug_taken(request.slug)
        names = [category_name_key(category.name) for category in request.categories]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ApiError(
                422,
                "DUPLICATE_CATEGORY_NAME",
                "category names must be unique within an event",
                {"names": duplicates},
            )
        prices = [
            _price_minor(category.price, request.currency, ("body", "categories", index, "price"))
            for index, category in enumerate(request.categories)
        ]
        reserved = sum(c.max_seats for c in request.categories if c.max_seats is not None)
        if reserved > request.capacity:
            raise ApiError(
                422,
                "CAPACITY_EXCEEDED",
                f"the bounded categories reserve {reserved} seats, "
                f"more than the capacity of {request.capacity}",
                {"capacity": request.capacity, "reserved_for_bounded": reserved},
            )
        now = utcnow()
        event = Event(
            id=uuid.uuid4(),
            organization=organization,
            slug=request.slug,
            name=request.name,
            currency=request.currency,
            timezone=request.timezone,
            starts_at=as_utc(request.starts_at),
            ends_at=as_utc(request.ends_at),
            capacity=request.capacity,
            public_reservation_limit=request.public_reservation_limit,
            terms_url=request.terms_url,
            privacy_policy_url=request.privacy_policy_url,
            payment_beneficiary=request.payment_beneficiary,
            payment_iban=request.payment_iban,
            payment_deadline_days=request.payment_deadline_days,
            created_at=now,
            updated_at=now,
        )
        categories = [
            _new_category(
                event.id,
                position=position,
                name=category.name,
                visibility=category.visibility,
                price_minor=price,
                max_seats=category.max_seats,
                now=now,
            )
            for position, (category, price) in enumerate(
                zip(request.categories, prices, strict=True)
            )
        ]
        try:
            await repository.add_event(event, categories)
        except SlugTaken as error:
            raise _slug_taken(request.slug) from error
        await self._publish(
            session,
            cause,
            _event_upserted(event),
            *(_category_upserted(category) for category in categories),
        )
        return EventSnapshot(event, categories)

    async def list_events(self, session: AsyncSession, organization: str) -> list[EventSnapshot]:
        """The events of an organization with their categories."""
        repository = InventoryRepository(session)
        events = await repository.events_of(organization)
        categories = await repository.categories_of_events([event.id for event in events])
        return [EventSnapshot(event, categories[event.id]) for event in events]

    async def get_event(self, session: AsyncSession, organization: str, slug: str) -> EventSnapshot:
        """One event of the organization; 404 for an unknown one or another's."""
        repository = InventoryRepository(session)
        event = await _own_event(repository, organization, slug, lock=False)
        return EventSnapshot(event, await repository.categories_of(event.id))

    async def update_event(
        self,
        session: AsyncSession,
        organization: str,
        slug: str,
        changes: EventUpdate,
        cause: Cause,
    ) -> EventSnapshot:
        """Change an event; the capacity never drops below the seats allocated."""
        repository = InventoryRepository(session)
        event = await _own_event(repository, organization, slug, lock=True)
        categories = await repository.categories_of(event.id)
        wanted: dict[str, Any] = {name: getattr(changes, name) for name in changes.model_fields_set}
        starts_at = wanted.get("starts_at", event.starts_at)
        ends_at = wanted.get("ends_at", event.ends_at)
        if ends_at <= starts_at:
            raise ApiError(
                422,
                "INVALID_DATES",
                "ends_at must be after starts_at",
                {"starts_at": starts_at, "ends_at": ends_at},
            )
        if "capacity" in wanted:
            in_use = allocated(category.state() for category in categories)
            if wanted["capacity"] < in_use:
                raise ApiError(
                    409,
                    "CAPACITY_BELOW_ALLOCATION",
                    f"the capacity cannot drop below the {in_use} seats allocated to "
                    "bounded categories or held and sold in dynamic ones",
                    {"capacity": wanted["capacity"], "allocated": in_use},
                )
        changed = {name: value for name, value in wanted.items() if getattr(event, name) != value}
        if changed:
            for name, value in changed.items():
                setattr(event, name, value)
            event.updated_at = utcnow()
            await repository.flush()
            await self._publish(session, cause, _event_upserted(event))
        return EventSnapshot(event, categories)

    async def add_category(
        self,
        session: AsyncSession,
        organization: str,
        slug: str,
        request: CategoryCreate,
        cause: Cause,
    ) -> tuple[EventSnapshot, TicketCategory]:
        """Add a category; a bounded one must fit in the unallocated seats."""
        repository = InventoryRepository(session)
        event = await _own_event(repository, organization, slug, lock=True)
        categories = await repository.categories_of(event.id)
        _check_name_free(categories, request.name)
        price = _price_minor(request.price, event.currency, ("body", "price"))
        if request.max_seats is not None:
            _check_fits(event, [c.state() for c in categories], request.max_seats)
        category = _new_category(
            event.id,
            position=await repository.next_category_position(event.id),
            name=request.name,
            visibility=request.visibility,
            price_minor=price,
            max_seats=request.max_seats,
            now=utcnow(),
        )
        try:
            await repository.add_categories([category])
        except CategoryNameTaken as error:
            raise _name_taken(request.name) from error
        await self._publish(session, cause, _category_upserted(category))
        return EventSnapshot(event, [*categories, category]), category

    async def update_category(
        self,
        session: AsyncSession,
        organization: str,
        slug: str,
        category_id: uuid.UUID,
        changes: CategoryUpdate,
        cause: Cause,
    ) -> tuple[EventSnapshot, TicketCategory]:
        """Change a category; ``max_seats`` never drops below its held and sold seats."""
        repository = InventoryRepository(session)
        event = await _own_event(repository, organization, slug, lock=True)
        categories = await repository.categories_of(event.id)
        category = next((c for c in categories if c.id == category_id), None)
        if category is None:
            raise not_found("category")
        others = [c for c in categories if c.id != category_id]
        wanted: dict[str, Any] = {}
        if changes.name is not None and changes.name != category.name:
            _check_name_free(others, changes.name)
            wanted["name"] = changes.name
            wanted["name_key"] = category_name_key(changes.name)
        if changes.visibility is not None:
            wanted["visibility"] = changes.visibility
        if changes.price is not None:
            wanted["price_minor"] = _price_minor(changes.price, event.currency, ("body", "price"))
        if "max_seats" in changes.model_fields_set:
            max_seats = changes.max_seats
            if max_seats is not None and max_seats < category.held + category.sold:
                raise ApiError(
                    409,
                    "MAX_SEATS_BELOW_USED",
                    f"max_seats cannot drop below the {category.held + category.sold} "
                    "seats held and sold in the category",
                    {"max_seats": max_seats, "held": category.held, "sold": category.sold},
                )
            if max_seats is not None:
                _check_fits(event, [c.state() for c in others], max_seats)
            wanted["max_seats"] = max_seats
        changed = {
            name: value for name, value in wanted.items() if getattr(category, name) != value
        }
        if changed:
            for name, value in changed.items():
                setattr(category, name, value)
            category.updated_at = utcnow()
            await repository.flush()
            await self._publish(session, cause, _category_upserted(category))
        return EventSnapshot(event, categories), category

    # --- seat holds (inventory.commands) ---

    async def hold_seats(self, session: AsyncSession, command: HoldSeats, cause: Cause) -> None:
        """Hold all lines of a reservation or none, and answer the outcome.

        A reservation that holds (or was refused) seats gets the stored outcome again:
        seats are never held twice. One whose seats were released may hold again
        (a reinstated reservation). See :func:`plan_hold` for the rules.
        """
        repository = InventoryRepository(session)
        event = await repository.lock_event(command.event_id)
        if event is None:
            await self._refuse(
                session,
                command,
                cause,
                Refusal(RefusalReason.EVENT_NOT_FOUND, f"event {command.event_id} does not exist"),
            )
            return
        hold = await repository.hold(command.reservation_id)
        if hold is not None and hold.event_id != event.id:
            await self._refuse(
                session,
                command,
                cause,
                Refusal(
                    RefusalReason.INVALID_REQUEST,
                    f"reservation {command.reservation_id} belongs to another event",
                ),
            )
            return
        if hold is not None and hold.status is not HoldStatus.RELEASED:
            await self._answer_again(session, command, hold, cause)
            return
        categories = await repository.categories_of(event.id)
        decision = plan_hold(
            EventState(event.capacity, event.public_reservation_limit),
            [category.state() for category in categories],
            _hold_request(command),
        )
        if isinstance(decision, Refusal):
            refused = _seats_refused(command, decision)
            await self._record_hold(repository, command, hold, HoldStatus.REFUSED, refused, [])
            await self._publish(session, cause, refused, subject=command.reservation_id)
            return
        await self._apply_hold(repository, event, categories, command, hold, decision, cause)

    async def _apply_hold(
        self,
        repository: InventoryRepository,
        event: Event,
        categories: Sequence[TicketCategory],
        command: HoldSeats,
        hold: Hold | None,
        plan: HoldPlan,
        cause: Cause,
    ) -> None:
        now = utcnow()
        by_id = {category.id: category for category in categories}
        position: int | None = None  # of the first category created here, looked up once
        created: list[TicketCategory] = []
        touched: list[TicketCategory] = []
        for state in plan.categories:
            category = by_id.get(state.id)
            if category is None:
                if position is None:
                    position = await repository.next_category_position(event.id)
                category = _new_category(
                    event.id,
                    position=position + len(created),
                    name=state.name,
                    visibility=state.visibility,
                    price_minor=state.price_minor,
                    max_seats=state.max_seats,
                    now=now,
                    category_id=state.id,
                    held=state.held,
                    created_on_the_fly=True,
                )
                created.append(category)
            else:
                category.max_seats = state.max_seats
                category.held = state.held
                category.updated_at = now
            touched.append(category)
        capacity_grown = plan.capacity != event.capacity
        if capacity_grown:
            event.capacity = plan.capacity
            event.updated_at = now
        if created:
            await repository.add_categories(created)
        held = SeatsHeld(
            event_id=event.id,
            reservation_id=command.reservation_id,
            currency=event.currency,
            # PlannedLine and HeldLine carry the same fields: the plan is the message.
            lines=[HeldLine.model_validate(line, from_attributes=True) for line in plan.lines],
        )
        lines = [
            HoldLine(
                line_index=line.line_index,
                category_id=line.category_id,
                quantity=line.quantity,
                unit_price_minor=line.unit_price_minor,
                category_created=line.category_created,
            )
            for line in plan.lines
        ]
        await self._record_hold(repository, command, hold, HoldStatus.HELD, held, lines)
        session = repository.session
        if capacity_grown:
            await repository.flush()  # the upsert carries the row version the flush bumps
            await self._publish(session, cause, _event_upserted(event))
        self._publish_categories_at_commit(session, cause, touched)
        await self._publish(session, cause, held, subject=command.reservation_id)

    async def _record_hold(
        self,
        repository: InventoryRepository,
        command: HoldSeats,
        hold: Hold | None,
        status: HoldStatus,
        outcome: SeatsHeld | SeatsRefused,
        lines: list[HoldLine],
    ) -> None:
        now = utcnow()
        stored = outcome.model_dump(mode="json")
        if hold is None:
            hold = Hold(
                reservation_id=command.reservation_id,
                event_id=command.event_id,
                channel=command.channel,
                status=status,
                outcome=stored,
                created_at=now,
                updated_at=now,
                lines=lines,
            )
            repository.add_hold(hold)
            return
        hold.channel = command.channel
        hold.status = status
        hold.outcome = stored
        hold.release_reason = None
        hold.updated_at = now
        await repository.replace_hold_lines(hold, lines)

    async def _answer_again(
        self, session: AsyncSession, command: HoldSeats, hold: Hold, cause: Cause
    ) -> None:
        outcome: SeatsHeld | SeatsRefused
        if hold.status is HoldStatus.REFUSED:
            outcome = SeatsRefused.model_validate(hold.outcome)
        else:
            outcome = SeatsHeld.model_validate(hold.outcome)
        logger.info(
            "hold repeated, answering the stored outcome",
            extra={"reservation_id": str(command.reservation_id), "status": hold.status.value},
        )
        await self._publish(session, cause, outcome, subject=command.reservation_id)

    async def _refuse(
        self, session: AsyncSession, command: HoldSeats, cause: Cause, refusal: Refusal
    ) -> None:
        await self._publish(
            session, cause, _seats_refused(command, refusal), subject=command.reservation_id
        )

    async def confirm_seats(
        self, session: AsyncSession, command: ConfirmSeats, cause: Cause
    ) -> None:
        """Turn held seats into sold ones; a repeated confirmation is answered again.

        A reservation that holds nothing (unknown, refused or released) is left alone
        and gets no answer: confirming seats that are not held would be a lie.
        """
        repository = InventoryRepository(session)
        event = await repository.lock_event(command.event_id)
        hold = await repository.hold(command.reservation_id)
        if (
            event is None
            or hold is None
            or hold.event_id != event.id
            or hold.status
            not in (
                HoldStatus.HELD,
                HoldStatus.SOLD,
            )
        ):
            logger.warning(
                "confirmation of seats that are not held ignored",
                extra={
                    "reservation_id": str(command.reservation_id),
                    "status": hold.status.value if hold is not None else None,
                },
            )
            return
        touched: list[TicketCategory] = []
        if hold.status is HoldStatus.HELD:
            touched = await self._move_seats(repository, event, hold, held=-1, sold=+1)
            hold.status = HoldStatus.SOLD
            hold.updated_at = utcnow()
        self._publish_categories_at_commit(session, cause, touched)
        await self._publish(
            session,
            cause,
            SeatsConfirmed(event_id=command.event_id, reservation_id=command.reservation_id),
            subject=command.reservation_id,
        )

    async def release_seats(
        self, session: AsyncSession, command: ReleaseSeats, cause: Cause
    ) -> None:
        """Free the held or sold seats of a reservation (they return to their category).

        Always answered: a reservation that holds nothing (unknown, refused, already
        released) is released trivially. Grown ``max_seats`` and capacity stay grown.
        """
        repository = InventoryRepository(session)
        event = await repository.lock_event(command.event_id)
        hold = await repository.hold(command.reservation_id)
        touched: list[TicketCategory] = []
        if (
            event is not None
            and hold is not None
            and hold.event_id == event.id
            and hold.status in (HoldStatus.HELD, HoldStatus.SOLD)
        ):
            if hold.status is HoldStatus.HELD:
                touched = await self._move_seats(repository, event, hold, held=-1, sold=0)
            else:
                touched = await self._move_seats(repository, event, hold, held=0, sold=-1)
            hold.status = HoldStatus.RELEASED
            hold.release_reason = command.reason[:200]
            hold.updated_at = utcnow()
        self._publish_categories_at_commit(session, cause, touched)
        await self._publish(
            session,
            cause,
            SeatsReleased(
                event_id=command.event_id,
                reservation_id=command.reservation_id,
                reason=command.reason,
            ),
            subject=command.reservation_id,
        )

    async def _move_seats(
        self, repository: InventoryRepository, event: Event, hold: Hold, *, held: int, sold: int
    ) -> list[TicketCategory]:
        """Add ``held``/``sold`` times each line's quantity to its category's counters."""
        categories = {c.id: c for c in await repository.categories_of(event.id)}
        now = utcnow()
        touched: dict[uuid.UUID, TicketCategory] = {}
        for line in hold.lines:
            category = categories[line.category_id]
            category.held += held * line.quantity
            category.sold += sold * line.quantity
            category.updated_at = now
            touched[category.id] = category
        return list(touched.values())

    async def _publish(
        self,
        session: AsyncSession,
        cause: Cause,
        *messages: EventUpserted
        | CategoryUpserted
        | SeatsHeld
        | SeatsRefused
        | SeatsConfirmed
        | SeatsReleased,
        subject: uuid.UUID | None = None,
    ) -> None:
        """Queue messages in the outbox; ``subject`` defaults to the event id."""
        await self._outbox.add(
            session, *(_envelope(message, cause, subject) for message in messages)
        )

    def _publish_categories_at_commit(
        self, session: AsyncSession, cause: Cause, categories: Sequence[TicketCategory]
    ) -> None:
        """Publish the state of changed categories once, when the transaction commits.

        A consumer applies a fetched batch of holds in one transaction: one
        ``CategoryUpserted`` per category with its final counters replaces one per hold
        (replicas keep only the newest version anyway), written before the batch's
        outcomes.
        """
        changed = at_commit(
            session, _CHANGED_CATEGORIES, self._write_category_upserts, dict, order=-1
        )
        for category in categories:
            changed[category.id] = (category, cause)

    def _write_category_upserts(
        self, session: Session, changed: dict[uuid.UUID, tuple[TicketCategory, Cause]]
    ) -> None:
        session.flush()  # the upserts carry the row versions the flush bumps
        # Before the transaction's outcomes: a replica knows a new category first.
        self._outbox.queue(
            session,
            *(
                _envelope(_category_upserted(category), cause, None)
                for category, cause in changed.values()
            ),
            first=True,
        )


# --- helpers ---


def _envelope(
    message: EventUpserted
    | CategoryUpserted
    | SeatsHeld
    | SeatsRefused
    | SeatsConfirmed
    | SeatsReleased,
    cause: Cause,
    subject: uuid.UUID | None,
) -> Envelope[Message]:
    return Envelope.wrap(
        message,
        source=SOURCE,
        subject=str(subject if subject is not None else message.event_id),
        correlationid=cause.correlationid,
        causationid=cause.causationid,
    )


async def _own_event(
    repository: InventoryRepository, organization: str, slug: str, *, lock: bool
) -> Event:
    event = await repository.event_by_slug(slug, lock=lock)
    if event is None or event.organization != organization:
        raise not_found("event")
    return event


def _slug_taken(slug: str) -> ApiError:
    return ApiError(409, "SLUG_TAKEN", f"an event with slug {slug!r} already exists")


def _name_taken(name: str) -> ApiError:
    return ApiError(409, "CATEGORY_NAME_TAKEN", f"the event already has a category named {name!r}")


def _check_name_free(categories: Sequence[TicketCategory], name: str) -> None:
    key = category_name_key(name)
    if any(category.name_key == key for category in categories):
        raise _name_taken(name)


def _check_fits(event: Event, others: Sequence[CategoryState], max_seats: int) -> None:
    """A bounded category of ``max_seats`` must fit next to the other categories."""
    free = event.capacity - allocated(others)
    if max_seats > free:
        raise ApiError(
            409,
            "CAPACITY_EXCEEDED",
            f"{max_seats} seats do not fit: {free} seats of the capacity are unallocated",
            {"capacity": event.capacity, "unallocated": free, "max_seats": max_seats},
        )


def _price_minor(price: Any, currency: str, loc: tuple[str | int, ...]) -> int:
    try:
        return to_minor(price, currency)
    except InvalidAmount as error:
        raise ApiError(
            422,
            "INVALID_PRICE",
            str(error),
            [{"loc": list(loc), "message": str(error), "type": "invalid_price"}],
        ) from error


def _new_category(
    event_id: uuid.UUID,
    *,
    position: int,
    name: str,
    visibility: Any,
    price_minor: int,
    max_seats: int | None,
    now: Any,
    category_id: uuid.UUID | None = None,
    held: int = 0,
    created_on_the_fly: bool = False,
) -> TicketCategory:
    return TicketCategory(
        id=category_id or uuid.uuid4(),
        event_id=event_id,
        name=name,
        name_key=category_name_key(name),
        position=position,
        visibility=visibility,
        price_minor=price_minor,
        max_seats=max_seats,
        held=held,
        sold=0,
        created_on_the_fly=created_on_the_fly,
        created_at=now,
        updated_at=now,
    )


def _hold_request(command: HoldSeats) -> HoldRequest:
    lines: list[HoldLineRequest] = []
    for line in command.lines:
        if line.new_category is not None:
            lines.append(
                NewCategoryLine(
                    name=line.new_category.name,
                    price_minor=line.new_category.price_minor,
                    quantity=line.quantity,
                )
            )
        else:
            assert line.category_id is not None  # noqa: S101 - guaranteed by the contract
            lines.append(ExistingCategoryLine(line.category_id, line.quantity))
    return HoldRequest(
        channel=command.channel,
        lines=lines,
        add_seats_if_not_available=command.add_seats_if_not_available,
    )


def _seats_refused(command: HoldSeats, refusal: Refusal) -> SeatsRefused:
    return SeatsRefused(
        event_id=command.event_id,
        reservation_id=command.reservation_id,
        reason=refusal.reason,
        message=refusal.message,
        lines=[RefusedLine.model_validate(line, from_attributes=True) for line in refusal.lines],
    )


def _event_upserted(event: Event) -> EventUpserted:
    return EventUpserted(
        event_id=event.id,
        organization=event.organization,
        slug=event.slug,
        name=event.name,
        currency=event.currency,
        timezone=event.timezone,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        capacity=event.capacity,
        public_reservation_limit=event.public_reservation_limit,
        terms_url=event.terms_url,
        privacy_policy_url=event.privacy_policy_url,
        payment_beneficiary=event.payment_beneficiary,
        payment_iban=event.payment_iban,
        payment_deadline_days=event.payment_deadline_days,
        version=event.version,
    )


def _category_upserted(category: TicketCategory) -> CategoryUpserted:
    return CategoryUpserted(
        event_id=category.event_id,
        category_id=category.id,
        name=category.name,
        visibility=category.visibility,
        price_minor=category.price_minor,
        max_seats=category.max_seats,
        held=category.held,
        sold=category.sold,
        created_on_the_fly=category.created_on_the_fly,
        version=category.version,
    )
