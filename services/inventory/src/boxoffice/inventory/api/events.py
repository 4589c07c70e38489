"""``/v1/events``: events and ticket categories of the caller's organization."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from boxoffice.chassis.api import SessionDep
from boxoffice.chassis.auth import CurrentPrincipal
from boxoffice.chassis.errors import error_responses
from boxoffice.inventory.api.deps import InventoryServiceDep, RequestCauseDep
from boxoffice.inventory.schemas import (
    CategoryCreate,
    CategoryRead,
    CategoryUpdate,
    EventCreate,
    EventRead,
    EventUpdate,
    event_read,
)
from boxoffice.inventory.service import EventSnapshot

router = APIRouter(prefix="/v1/events", tags=["events"])

_NO_EVENT = "No such event (or category) in the caller's organization"
_CONFLICT = "Conflicts with the current state (slug, name, seats)"
_READ = error_responses(401, 404, e404=_NO_EVENT)
_WRITE = error_responses(400, 401, 404, 409, 422, e404=_NO_EVENT, e409=_CONFLICT)


def _category_of(snapshot: EventSnapshot, category_id: uuid.UUID) -> CategoryRead:
    read = event_read(snapshot.event, snapshot.categories)
    return next(category for category in read.categories if category.id == category_id)


@router.post("", status_code=201, responses=error_responses(400, 401, 409, 422, e409=_CONFLICT))
async def create_event(
    body: EventCreate,
    principal: CurrentPrincipal,
    session: SessionDep,
    service: InventoryServiceDep,
    cause: RequestCauseDep,
) -> EventRead:
    """Create an event of the caller's organization with its initial categories."""
    snapshot = await service.create_event(session, principal.org, body, cause)
    return event_read(snapshot.event, snapshot.categories)


@router.get("", responses=error_responses(401))
async def list_events(
    principal: CurrentPrincipal, session: SessionDep, service: InventoryServiceDep
) -> list[EventRead]:
    """The events of the caller's organization, soonest first."""
    snapshots = await service.list_events(session, principal.org)
    return [event_read(snapshot.event, snapshot.categories) for snapshot in snapshots]


@router.get("/{slug}", responses=_READ)
async def get_event(
    slug: str, principal: CurrentPrincipal, session: SessionDep, service: InventoryServiceDep
) -> EventRead:
    """An event with its categories and their held, sold and available seats."""
    snapshot = await service.get_event(session, principal.org, slug)
    return event_read(snapshot.event, snapshot.categories)


@router.patch("/{slug}", responses=_WRITE)
async def update_event(
    slug: str,
    body: EventUpdate,
    principal: CurrentPrincipal,
    session: SessionDep,
    service: InventoryServiceDep,
    cause: RequestCauseDep,
) -> EventRead:
    """Change an event's name, dates, time zone, capacity or public reservation limit."""
    snapshot = await service.update_event(session, principal.org, slug, body, cause)
    return event_read(snapshot.event, snapshot.categories)


@router.post("/{slug}/categories", status_code=201, responses=_WRITE)
async def add_category(
    slug: str,
    body: CategoryCreate,
    principal: CurrentPrincipal,
    session: SessionDep,
    service: InventoryServiceDep,
    cause: RequestCauseDep,
) -> CategoryRead:
    """Add a ticket category to an event."""
    snapshot, category = await service.add_category(session, principal.org, slug, body, cause)
    return _category_of(snapshot, category.id)


@router.patch("/{slug}/categories/{category_id}", responses=_WRITE)
async def update_category(
    slug: str,
    category_id: uuid.UUID,
    body: CategoryUpdate,
    principal: CurrentPrincipal,
    session: SessionDep,
    service: InventoryServiceDep,
    cause: RequestCauseDep,
) -> CategoryRead:
    """Change a ticket category's name, visibility, price or max_seats."""
    snapshot, category = await service.update_category(
        session, principal.org, slug, category_id, body, cause
    )
    return _category_of(snapshot, category.id)
