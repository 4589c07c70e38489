"""The messaging tables every service database has: outbox, relay lease and inbox."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    text,
)

from boxoffice.chassis.columns import UtcDateTime

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
_OUTBOX_ID = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class MessagingTables:
    """The Core tables of the outbox, its relay lease and the inbox."""

    outbox: Table
    relay_lease: Table
    inbox: Table


def define_messaging_tables(metadata: MetaData) -> MessagingTables:
    """Add the messaging tables to a service's metadata (and so to its migrations)."""
    outbox = Table(
        "outbox",
        metadata,
        Column("id", _OUTBOX_ID, primary_key=True, autoincrement=True),
        Column("message_id", String(36), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("partition_key", String(200), nullable=False),
        Column("message_type", String(200), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("headers", JSON, nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("published_at", UtcDateTime(), nullable=True),
    )
    Index(
        "ix_outbox_unpublished",
        outbox.c.id,
        postgresql_where=text("published_at IS NULL"),
        sqlite_where=text("published_at IS NULL"),
    )
    Index("ix_outbox_published_at", outbox.c.published_at)
    relay_lease = Table(
        "outbox_relay_lease",
        metadata,
        Column("name", String(100), primary_key=True),
        Column("holder", String(200), nullable=False),
        Column("expires_at", UtcDateTime(), nullable=False),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("message_id", String(36), primary_key=True),
        Column("topic", String(200), nullable=False),
        Column("message_type", String(200), nullable=False),
        Column("received_at", UtcDateTime(), nullable=False),
    )
    Index("ix_inbox_received_at", inbox.c.received_at)
    return MessagingTables(outbox=outbox, relay_lease=relay_lease, inbox=inbox)
