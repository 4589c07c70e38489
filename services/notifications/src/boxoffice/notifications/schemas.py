"""HTTP response models of the notifications service."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from boxoffice.notifications.models import Email, EmailKind, EmailStatus


class EmailMessageOut(BaseModel):
    """One email and where its delivery stands."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID = Field(description="The email id assigned by reservations.")
    reservation_id: uuid.UUID
    ticket_id: uuid.UUID | None = Field(description="The ticket, for a ticket email.")
    kind: EmailKind
    to: str = Field(description="The recipient's address.")
    status: EmailStatus
    attempts: int = Field(description="Attempts made so far, the one in progress included.")
    last_error: str | None = Field(
        description="Why the last attempt failed (addresses masked); null once sent."
    )
    created_at: datetime = Field(description="When the email was queued.")
    updated_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None = Field(
        description="When queued: when it is tried next. When sending: when it is "
        "tried again should this attempt be lost. Null once sent or failed."
    )
    sent_at: datetime | None = Field(description="When the mail server accepted it.")

    @classmethod
    def of(cls, email: Email) -> EmailMessageOut:
        """The API view of a stored email."""
        return cls(
            id=email.id,
            reservation_id=email.reservation_id,
            ticket_id=email.ticket_id,
            kind=email.kind,
            to=email.recipient,
            status=email.status,
            attempts=email.attempts,
            last_error=email.last_error,
            created_at=email.created_at,
            updated_at=email.updated_at,
            last_attempt_at=email.last_attempt_at,
            next_attempt_at=email.next_attempt_at,
            sent_at=email.sent_at,
        )
