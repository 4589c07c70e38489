"""Dependencies of the inventory routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from boxoffice.chassis.logs import current_correlation_id
from boxoffice.inventory.service import Cause, InventoryService


async def _inventory_service(request: Request) -> InventoryService:
    service: InventoryService = request.app.state.inventory
    return service


async def _request_cause() -> Cause:
    # Messages caused by a request carry its X-Request-ID as correlation id.
    return Cause(correlationid=current_correlation_id())


InventoryServiceDep = Annotated[InventoryService, Depends(_inventory_service)]
"""The service instance built by the app factory."""

RequestCauseDep = Annotated[Cause, Depends(_request_cause)]
"""What the messages published by this request answer."""
