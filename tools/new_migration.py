"""Autogenerate an Alembic revision for a service: ``make migration SERVICE=x MSG=...``.

Applies the existing revisions to a throwaway SQLite database, then compares it with
the service's models. Review the generated file before committing it.
"""

from __future__ import annotations

import argparse
import importlib
import tempfile
from pathlib import Path

from alembic import command

from boxoffice.chassis.migrations import alembic_config


def main() -> None:
    """Parse arguments and write the new revision."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("service", choices=["inventory", "reservations", "notifications"])
    parser.add_argument("message")
    args = parser.parse_args()
    package = importlib.import_module(f"boxoffice.{args.service}")
    migrations = Path(next(iter(package.__path__))) / "migrations"
    with tempfile.TemporaryDirectory() as tmp:
        config = alembic_config(migrations, f"sqlite+aiosqlite:///{tmp}/scratch.db")
        command.upgrade(config, "head")
        command.revision(config, message=args.message, autogenerate=True)


if __name__ == "__main__":
    main()
