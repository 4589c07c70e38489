"""The inbox claims a fetched batch in one statement, with the guarantees of one claim."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from boxoffice.chassis.db import create_engine, create_session_factory
from boxoffice.chassis.inbox import Inbox
from boxoffice.contracts import Envelope
from boxoffice.contracts.inventory import SeatsReleased
from libs.chassis.tests.support import create_schema


def _envelope() -> Envelope[SeatsReleased]:
    return Envelope.wrap(
        SeatsReleased(event_id=uuid.uuid4(), reservation_id=uuid.uuid4(), reason="test"),
        source="chassis-test",
    )


async def test_a_batch_claims_only_what_was_not_handled(database_url: str) -> None:
    engine = create_engine(database_url)
    tables = await create_schema(engine)
    sessions = create_session_factory(engine)
    inbox = Inbox(tables)
    handled_before, new, other = _envelope(), _envelope(), _envelope()
    try:
        async with sessions.begin() as session:
            assert await inbox.claim(session, handled_before, "t")
        async with sessions.begin() as session:
            fresh = await inbox.claim_many(session, [handled_before, new, new, other], "t")
        assert fresh == {str(new.id), str(other.id)}
        async with sessions.begin() as session:
            assert await inbox.claim_many(session, [new, other], "t") == set()
            assert await inbox.claim_many(session, [], "t") == set()
            assert not await inbox.claim(session, other, "t")
            count = await session.scalar(select(func.count()).select_from(tables.inbox))
        assert count == 3
    finally:
        await engine.dispose()


async def test_a_rolled_back_batch_claims_nothing(database_url: str) -> None:
    engine = create_engine(database_url)
    tables = await create_schema(engine)
    sessions = create_session_factory(engine)
    inbox = Inbox(tables)
    envelope = _envelope()
    try:
        async with sessions() as session:
            async with session.begin():
                assert await inbox.claim_many(session, [envelope], "t") == {str(envelope.id)}
                await session.rollback()
        async with sessions.begin() as session:
            assert await inbox.claim_many(session, [envelope], "t") == {str(envelope.id)}
    finally:
        await engine.dispose()
