"""Settings of the inventory service (environment prefix ``BOXOFFICE_INVENTORY_``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from boxoffice.chassis.settings import ServiceSettings


class Settings(ServiceSettings):
    """Settings of the inventory service."""

    model_config = SettingsConfigDict(env_prefix="BOXOFFICE_INVENTORY_", extra="ignore")

    service_name: str = "inventory"
    http_port: int = 8001
    database_url: str = "sqlite+aiosqlite:///.data/inventory.db"
