"""Alembic environment of the reservations service."""

from boxoffice.chassis.migrations import run_env
from boxoffice.reservations.models import Base

run_env(Base.metadata)
