"""ORM tables of the notifications service: the emails and their delivery log."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Enum, Index, Integer, String, Text, Uuid, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from boxoffice.chassis.columns import UtcDateTime
from boxoffice.chassis.db import new_metadata
from boxoffice.chassis.tables import define_messaging_tables


class Base(DeclarativeBase):
    """Declarative base of the notifications service's own database."""

    metadata = new_metadata()


messaging_tables = define_messaging_tables(Base.metadata)


class EmailKind(StrEnum):
    """What an email is about."""

    TICKET = "ticket"
    RESERVATION_LINK = "reservation_link"


class EmailStatus(StrEnum):
    """Where the delivery of one email stands.

    ``queued`` → ``sending`` → ``sent``; a temporary failure goes back to ``queued``
    with a later ``next_attempt_at``; a permanent one, or the last attempt, ends in
    ``failed``.
    """

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


def _string_enum(enum: type[StrEnum]) -> Enum:
    # Stored as the enum's values in a plain VARCHAR: portable and readable in SQL.
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=20,
        values_callable=lambda members: [member.value for member in members],
    )


class Email(Base):
    """One email to send, and the log of its delivery.

    The id is the ``email_id`` assigned by reservations: a command delivered twice
    finds its emails already here and adds nothing.
    """

    __tablename__ = "email_messages"
    __table_args__ = (
        # The dispatcher's "what is due" query; final emails are left out of the index.
        Index(
            "ix_email_messages_due",
            "next_attempt_at",
            postgresql_where=text("status IN ('queued', 'sending')"),
            sqlite_where=text("status IN ('queued', 'sending')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[EmailKind] = mapped_column(_string_enum(EmailKind))
    organization: Mapped[str] = mapped_column(String(200))
    reservation_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    recipient: Mapped[str] = mapped_column(String(254))
    language: Mapped[str | None] = mapped_column(String(35), nullable=True)
    """The language asked for; the email is written in it when a translation exists."""
    content: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """What the email says (the command's data); dropped once the email is final."""
    status: Mapped[EmailStatus] = mapped_column(_string_enum(EmailStatus))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    """When ``queued``: when it is due. When ``sending``: when the sender's lease runs
    out and the email is due again. Empty once final."""
    claim_token: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    """Identifies the attempt in progress; only its sender may record the outcome."""
    command_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    """Envelope id of the command that queued the email (the events' causation id)."""
    correlation_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
