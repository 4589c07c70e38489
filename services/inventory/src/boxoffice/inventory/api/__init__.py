"""HTTP routers of the inventory service."""

from boxoffice.inventory.api.events import router as events_router

__all__ = ["events_router"]
