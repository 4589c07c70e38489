"""Alembic migrations per service, applied at start-up."""

from __future__ import annotations

import zlib
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData, pool, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def alembic_config(script_location: Path, url: str | None = None) -> Config:
    """An Alembic config for a service's ``migrations`` folder."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


async def upgrade_to_head(engine: AsyncEngine, script_location: Path) -> None:
    """Apply all migrations; safe when several replicas start at once."""
    config = alembic_config(script_location)

    def upgrade(connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            # Replicas starting together take turns; the lock ends with the transaction.
            lock_id = zlib.crc32(str(script_location.parent.name).encode())
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as connection:
        await connection.run_sync(upgrade)


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's ``env.py``.

    At start-up the service passes its open connection; from the command line
    (``alembic revision --autogenerate``) the URL comes from ``sqlalchemy.url``.
    """
    config = context.config
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _run(connection, target_metadata)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url (alembic -x or the config) to run migrations")
    import asyncio

    async def run_offline_cli() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.begin() as conn:
            await conn.run_sync(_run, target_metadata)
        await engine.dispose()

    asyncio.run(run_offline_cli())


def _run(connection: Connection, target_metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def create_messaging_tables_v1() -> None:
    """Migration step creating the outbox, relay lease and inbox tables (version 1).

    Every service's first revision calls this; a later change to these tables gets a
    new step here and a new revision in each service, so this one stays frozen.
    """
    import sqlalchemy as sa
    from alembic import op

    from boxoffice.chassis.columns import UtcDateTime

    op.create_table(
        "inbox",
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("message_type", sa.String(length=200), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_inbox")),
    )
    op.create_index("ix_inbox_received_at", "inbox", ["received_at"])
    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("partition_key", sa.String(length=200), nullable=False),
        sa.Column("message_type", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("published_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbox_message_id")),
    )
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"])
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["id"],
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "outbox_relay_lease",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_outbox_relay_lease")),
    )


def drop_messaging_tables_v1() -> None:
    """Undo :func:`create_messaging_tables_v1`."""
    from alembic import op

    op.drop_table("outbox_relay_lease")
    op.drop_table("outbox")
    op.drop_table("inbox")
