"""Alembic environment of the notifications service."""

from boxoffice.chassis.migrations import run_env
from boxoffice.notifications.models import Base

run_env(Base.metadata)
