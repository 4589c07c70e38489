"""Every query of the notifications service."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.chassis.db import insert_or_ignore
from boxoffice.notifications.models import Email, EmailStatus


async def add_email_if_new(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Insert an email unless one with its id exists; True when inserted.

    On PostgreSQL a concurrent insert of the same id waits for the other transaction
    and then inserts nothing.
    """
    result = await session.execute(insert_or_ignore(session, Email.__table__, values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def lock_due_emails(session: AsyncSession, now: datetime, limit: int) -> Sequence[Email]:
    """Lock up to ``limit`` emails due at ``now``, the longest waiting first.

    Due: ``queued`` with its time come, or ``sending`` with its sender's lease run out.
    On PostgreSQL rows locked by another dispatcher are skipped (two replicas never
    claim the same email); SQLite serialises writers with ``BEGIN IMMEDIATE`` instead.
    """
    statement = (
        select(Email)
        .where(
            or_(Email.status == EmailStatus.QUEUED, Email.status == EmailStatus.SENDING),
            Email.next_attempt_at <= now,
        )
        .order_by(Email.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(statement)).all()


async def lock_claimed_email(
    session: AsyncSession, email_id: uuid.UUID, claim_token: uuid.UUID
) -> Email | None:
    """Lock an email still held by the attempt ``claim_token``; None when it moved on."""
    statement = (
        select(Email)
        .where(
            Email.id == email_id,
            Email.claim_token == claim_token,
            Email.status == EmailStatus.SENDING,
        )
        .with_for_update()
    )
    return (await session.scalars(statement)).one_or_none()


async def get_email(session: AsyncSession, email_id: uuid.UUID) -> Email | None:
    """The email with this id, if any."""
    return await session.get(Email, email_id)


async def list_emails(
    session: AsyncSession,
    *,
    organization: str,
    reservation_id: uuid.UUID | None,
    status: EmailStatus | None,
    limit: int,
) -> Sequence[Email]:
    """An organization's emails, newest first, optionally of one reservation or status."""
    statement = select(Email).where(Email.organization == organization)
    if reservation_id is not None:
        statement = statement.where(Email.reservation_id == reservation_id)
    if status is not None:
        statement = statement.where(Email.status == status)
    statement = statement.order_by(Email.created_at.desc(), Email.id).limit(limit)
    return (await session.scalars(statement)).all()
