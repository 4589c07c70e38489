"""The inventory service: ``create_app(settings)`` builds the ASGI app and its runtime."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from boxoffice.chassis.runtime import ServiceRuntime, create_service_app
from boxoffice.contracts.topics import Topic
from boxoffice.inventory.api import events_router
from boxoffice.inventory.handlers import register_handlers
from boxoffice.inventory.metrics import register_metrics
from boxoffice.inventory.models import messaging_tables
from boxoffice.inventory.service import InventoryService
from boxoffice.inventory.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings) -> FastAPI:
    """Build the inventory service: HTTP routes, command consumer, outbox relay.

    ``app.state.runtime`` is the service's runtime and ``app.state.inventory`` its
    :class:`InventoryService`.
    """
    runtime = ServiceRuntime(
        settings,
        tables=messaging_tables,
        migrations=MIGRATIONS,
        consumes=[Topic.INVENTORY_COMMANDS],
        produces=[Topic.INVENTORY_EVENTS],
    )
    service = InventoryService(runtime.outbox)
    register_handlers(runtime, service)
    register_metrics(runtime.metrics)
    app = create_service_app(
        runtime,
        title="boxoffice inventory",
        description="Events, ticket categories, capacity and seat holds.",
        routers=[events_router],
    )
    app.state.inventory = service
    return app
