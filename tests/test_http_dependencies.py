"""No request of any service hops to FastAPI's thread pool."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI

from boxoffice.chassis.api import api_routes, threadpool_calls


def _app(service: str, database_url: str) -> FastAPI:
    if service == "inventory":
        from boxoffice.inventory.app import create_app as inventory_app
        from services.inventory.tests.support import make_settings as inventory_settings

        return inventory_app(inventory_settings(database_url))
    if service == "reservations":
        from boxoffice.reservations.app import create_app as reservations_app
        from services.reservations.tests.support import make_settings as reservations_settings

        return reservations_app(reservations_settings(database_url))
    from boxoffice.notifications.app import create_app as notifications_app
    from services.notifications.tests.support import make_settings as notifications_settings

    return notifications_app(notifications_settings(database_url, smtp_port=2525))


@pytest.mark.parametrize("service", ["inventory", "reservations", "notifications"])
def test_every_endpoint_and_dependency_is_async(service: str, tmp_path: Path) -> None:
    app = _app(service, f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")
    assert len(api_routes(app)) > 3
    assert threadpool_calls(app) == []


def sync_dependency() -> int:
    return 1


def test_a_plain_def_dependency_is_found() -> None:
    app = FastAPI()

    @app.get("/x")
    async def endpoint(value: Annotated[int, Depends(sync_dependency)]) -> int:
        return value

    assert threadpool_calls(app) == ["['GET'] /x: sync_dependency"]
