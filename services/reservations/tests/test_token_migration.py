"""The migration that adds ``share_token_hash`` keeps the links already sent working."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable

import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from boxoffice.chassis.columns import UtcDateTime
from boxoffice.chassis.migrations import alembic_config
from boxoffice.reservations.app import MIGRATIONS
from boxoffice.reservations.service import share_token_hash
from services.reservations.tests.support import START

BEFORE_HASHES = "12d6254d4cee"

_reservations = sa.table(
    "reservations",
    *(
        sa.column(name, type_)
        for name, type_ in (
            ("id", sa.Uuid()),
            ("event_id", sa.Uuid()),
            ("organization", sa.String()),
            ("channel", sa.String()),
            ("status", sa.String()),
            ("hold_purpose", sa.String()),
            ("contact_first_name", sa.String()),
            ("contact_last_name", sa.String()),
            ("contact_email", sa.String()),
            ("currency", sa.String()),
            ("total_minor", sa.BigInteger()),
            ("expires_at", UtcDateTime()),
            ("share_token", sa.String()),
            ("add_seats_if_not_available", sa.Boolean()),
            ("created_by", sa.String()),
            ("created_at", UtcDateTime()),
            ("updated_at", UtcDateTime()),
            ("share_token_hash", sa.String()),
        )
    ),
)


async def test_existing_tokens_get_their_hash(database_url: str) -> None:
    engine = create_async_engine(database_url)
    config = alembic_config(MIGRATIONS)
    token = secrets.token_urlsafe(32)

    def upgrade_to(revision: str) -> Callable[[sa.Connection], None]:
        def run(connection: sa.Connection) -> None:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

        return run

    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade_to(BEFORE_HASHES))
            await connection.execute(
                _reservations.insert().values(
                    id=uuid.uuid4(),
                    event_id=uuid.uuid4(),
                    organization="example-org",
                    channel="backoffice",
                    status="PENDING",
                    hold_purpose="create",
                    contact_first_name="Jane",
                    contact_last_name="Doe",
                    contact_email="jane.doe@example.org",
                    currency="EUR",
                    total_minor=90000,
                    expires_at=START,
                    share_token=token,
                    add_seats_if_not_available=False,
                    created_by="organizer@example.org",
                    created_at=START,
                    updated_at=START,
                )
            )
        async with engine.begin() as connection:
            await connection.run_sync(upgrade_to("head"))
            stored = (await connection.execute(sa.select(_reservations.c.share_token_hash))).all()
    finally:
        await engine.dispose()

    assert stored == [(share_token_hash(token),)]
