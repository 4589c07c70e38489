"""Inbox: a consumer records each message id in the transaction of its effect."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.chassis.clock import utcnow
from boxoffice.chassis.db import insert_or_ignore
from boxoffice.chassis.tables import MessagingTables
from boxoffice.contracts import Envelope, Message


class Inbox:
    """Deduplicates delivered messages by their envelope id."""

    def __init__(self, tables: MessagingTables) -> None:
        self._table = tables.inbox
        # Built once: an INSERT of N literal rows is compiled again for every batch;
        # this one is compiled once and run for many rows (insertmanyvalues).
        self._claims = {
            name: dialect.insert(self._table)
            .on_conflict_do_nothing()
            .returning(self._table.c.message_id)
            for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
        }

    async def claim(self, session: AsyncSession, envelope: Envelope[Message], topic: str) -> bool:
        """Record the message as handled; False when it was handled before.

        Call it first in the handler's transaction: a concurrent duplicate then waits
        on the key and finds it taken once this transaction commits.
        """
        result = await session.execute(
            insert_or_ignore(
                session,
                self._table,
                {
                    "message_id": str(envelope.id),
                    "topic": topic,
                    "message_type": envelope.type,
                    "received_at": utcnow(),
                },
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def claim_many(
        self, session: AsyncSession, envelopes: Sequence[Envelope[Message]], topic: str
    ) -> set[str]:
        """Record a fetched batch in one statement; the ids that were not handled before.

        Same guarantees as :meth:`claim` for each message, one round trip for all.
        """
        now = utcnow()
        rows = {
            str(envelope.id): {
                "message_id": str(envelope.id),
                "topic": topic,
                "message_type": envelope.type,
                "received_at": now,
            }
            for envelope in envelopes
        }
        if not rows:
            return set()
        statement = self._claims[
            "postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"
        ]
        return set((await session.execute(statement, list(rows.values()))).scalars())
