"""Alembic environment of the inventory service."""

from boxoffice.chassis.migrations import run_env
from boxoffice.inventory.models import Base

run_env(Base.metadata)
