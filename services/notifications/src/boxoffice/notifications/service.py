"""The rules of the notifications service: queueing emails and recording deliveries.

Nothing here talks SMTP: a command only queues emails, in the consumer's transaction;
the dispatcher claims due emails, sends them outside any transaction, and hands the
outcome back to :meth:`EmailService.record_delivery`, which writes the delivery log
and its event in one transaction.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.chassis.clock import utcnow
from boxoffice.chassis.logs import redact
from boxoffice.chassis.outbox import Outbox
from boxoffice.contracts import (
    EmailFailed,
    EmailRetrying,
    EmailSent,
    Envelope,
    EventInfo,
    Message,
    SendReservationLink,
    SendTickets,
    TicketEmail,
    Value,
)
from boxoffice.notifications import repository
from boxoffice.notifications.models import Email, EmailKind, EmailStatus
from boxoffice.notifications.settings import Settings

logger = logging.getLogger(__name__)

SOURCE = "boxoffice.notifications"

MAX_ERROR_LENGTH = 500


class TicketContent(Value):
    """What a ticket email says: one ticket of a ``SendTickets`` and its event."""

    reservation_id: uuid.UUID
    event: EventInfo
    ticket: TicketEmail


@dataclass(frozen=True)
class EmailClaim:
    """One attempt at sending an email, claimed by a dispatcher.

    A snapshot: the dispatcher renders and sends from it without a database session.
    """

    email_id: uuid.UUID
    claim_token: uuid.UUID
    kind: EmailKind
    language: str | None
    content: dict[str, Any]
    attempt: int
    correlation_id: str | None


@dataclass(frozen=True)
class DeliveryResult:
    """How one attempt ended."""

    delivered: bool
    permanent: bool = False
    error: str | None = None

    @classmethod
    def sent(cls) -> DeliveryResult:
        """The mail server accepted the email."""
        return cls(delivered=True)

    @classmethod
    def temporary_failure(cls, error: str) -> DeliveryResult:
        """Worth trying again later (connection trouble, timeout, 4xx reply)."""
        return cls(delivered=False, error=error)

    @classmethod
    def permanent_failure(cls, error: str) -> DeliveryResult:
        """Trying again cannot help (5xx reply, an email that cannot be written)."""
        return cls(delivered=False, permanent=True, error=error)


class EmailService:
    """Queues emails and keeps their delivery log.

    Args:
        outbox: where ``EmailSent`` / ``EmailRetrying`` / ``EmailFailed`` are written.
        settings: the service's settings (attempts, backoff, lease).
    """

    def __init__(self, outbox: Outbox, settings: Settings) -> None:
        self._outbox = outbox
        self._max_attempts = settings.smtp_max_attempts
        self._retry_base = settings.smtp_retry_base_seconds
        self._retry_max = settings.smtp_retry_max_seconds
        self._lease = timedelta(seconds=settings.dispatcher_lease_seconds)

    async def queue_ticket_emails(
        self,
        session: AsyncSession,
        command: SendTickets,
        *,
        command_id: uuid.UUID,
        correlation_id: str | None,
    ) -> int:
        """Queue one email per ticket, to its attendee; returns how many were new.

        A ticket whose ``email_id`` is known already (the command came again) is
        skipped: a re-send is a new command with new email ids.
        """
        queued = 0
        for ticket in command.tickets:
            content = TicketContent(
                reservation_id=command.reservation_id, event=command.event, ticket=ticket
            )
            queued += await self._queue(
                session,
                email_id=ticket.email_id,
                kind=EmailKind.TICKET,
                event=command.event,
                reservation_id=command.reservation_id,
                ticket_id=ticket.ticket_id,
                recipient=ticket.attendee_email,
                language=ticket.language,
                content=content.model_dump(mode="json"),
                command_id=command_id,
                correlation_id=correlation_id,
            )
        logger.info(
            "ticket emails queued",
            extra={
                "reservation_id": str(command.reservation_id),
                "queued": queued,
                "already_known": len(command.tickets) - queued,
            },
        )
        return queued

    async def queue_reservation_link(
        self,
        session: AsyncSession,
        command: SendReservationLink,
        *,
        command_id: uuid.UUID,
        correlation_id: str | None,
    ) -> int:
        """Queue the email with the reservation's share link to its contact (0 if known)."""
        queued = await self._queue(
            session,
            email_id=command.email_id,
            kind=EmailKind.RESERVATION_LINK,
            event=command.event,
            reservation_id=command.reservation_id,
            ticket_id=None,
            recipient=command.contact.email,
            language=command.contact.language,
            content=command.model_dump(mode="json"),
            command_id=command_id,
            correlation_id=correlation_id,
        )
        logger.info(
            "reservation link email queued",
            extra={"reservation_id": str(command.reservation_id), "queued": queued},
        )
        return queued

    async def _queue(
        self,
        session: AsyncSession,
        *,
        email_id: uuid.UUID,
        kind: EmailKind,
        event: EventInfo,
        reservation_id: uuid.UUID,
        ticket_id: uuid.UUID | None,
        recipient: str,
        language: str | None,
        content: dict[str, Any],
        command_id: uuid.UUID,
        correlation_id: str | None,
    ) -> int:
        now = utcnow()
        inserted = await repository.add_email_if_new(
            session,
            {
                "id": email_id,
                "kind": kind,
                "organization": event.organization,
                "reservation_id": reservation_id,
                "ticket_id": ticket_id,
                "recipient": recipient,
                "language": language,
                "content": content,
                "status": EmailStatus.QUEUED,
                "attempts": 0,
                "next_attempt_at": now,
                "command_id": command_id,
                "correlation_id": correlation_id or str(reservation_id),
                "created_at": now,
                "updated_at": now,
            },
        )
        return int(inserted)

    async def claim_due_emails(self, session: AsyncSession, limit: int) -> list[EmailClaim]:
        """Take up to ``limit`` due emails for sending; commit before sending them.

        Each claimed email is ``sending``, counts the attempt, and stays leased until
        ``now + dispatcher_lease_seconds``: if its sender dies, it becomes due again
        then. One whose last allowed attempt was interrupted that way is failed.
        """
        now = utcnow()
        claims: list[EmailClaim] = []
        for email in await repository.lock_due_emails(session, now, limit):
            if email.status == EmailStatus.SENDING and email.attempts >= self._max_attempts:
                error = "the last attempt was interrupted; whether it was delivered is unknown"
                await self._fail(session, email, error, now)
                continue
            email.status = EmailStatus.SENDING
            email.attempts += 1
            email.claim_token = uuid.uuid4()
            email.next_attempt_at = now + self._lease
            email.last_attempt_at = now
            email.updated_at = now
            claims.append(
                EmailClaim(
                    email_id=email.id,
                    claim_token=email.claim_token,
                    kind=email.kind,
                    language=email.language,
                    # Only final emails lose their content; a due one always has it.
                    content=email.content or {},
                    attempt=email.attempts,
                    correlation_id=email.correlation_id,
                )
            )
        return claims

    async def record_delivery(
        self, session: AsyncSession, claim: EmailClaim, result: DeliveryResult
    ) -> Email | None:
        """Record how an attempt ended and publish it; None when the claim was lost.

        A claim is lost when its lease ran out and another dispatcher took the email
        over: that one records the outcome, this one must not count it twice.
        """
        email = await repository.lock_claimed_email(session, claim.email_id, claim.claim_token)
        if email is None:
            logger.warning(
                "delivery outcome dropped: the email was claimed again",
                extra={"email_id": str(claim.email_id)},
            )
            return None
        now = utcnow()
        error = _clean_error(result.error)
        if result.delivered:
            self._finish(email, EmailStatus.SENT, now)
            email.sent_at = now
            email.last_error = None
            await self._publish(
                session,
                email,
                EmailSent(
                    reservation_id=email.reservation_id,
                    email_id=email.id,
                    ticket_id=email.ticket_id,
                    to=email.recipient,
                    attempts=email.attempts,
                ),
            )
            logger.info("email sent", extra={"email_id": str(email.id), "attempts": email.attempts})
        elif result.permanent or email.attempts >= self._max_attempts:
            await self._fail(session, email, error, now)
        else:
            email.status = EmailStatus.QUEUED
            email.claim_token = None
            email.last_error = error
            email.next_attempt_at = now + self.retry_delay(email.attempts)
            email.updated_at = now
            await self._publish(
                session,
                email,
                EmailRetrying(
                    reservation_id=email.reservation_id,
                    email_id=email.id,
                    ticket_id=email.ticket_id,
                    attempts=email.attempts,
                    last_error=error,
                ),
            )
            logger.info(
                "email will be retried",
                extra={
                    "email_id": str(email.id),
                    "attempts": email.attempts,
                    "next_attempt_at": email.next_attempt_at.isoformat(),
                },
            )
        return email

    def retry_delay(self, attempts: int) -> timedelta:
        """Wait before the next attempt: doubles with each attempt made, up to a cap."""
        seconds = min(self._retry_max, self._retry_base * 2 ** (attempts - 1))
        return timedelta(seconds=seconds)

    async def _fail(self, session: AsyncSession, email: Email, error: str, now: datetime) -> None:
        self._finish(email, EmailStatus.FAILED, now)
        email.last_error = error
        await self._publish(
            session,
            email,
            EmailFailed(
                reservation_id=email.reservation_id,
                email_id=email.id,
                ticket_id=email.ticket_id,
                to=email.recipient,
                attempts=max(email.attempts, 1),
                last_error=error,
            ),
        )
        logger.warning(
            "email failed", extra={"email_id": str(email.id), "attempts": email.attempts}
        )

    @staticmethod
    def _finish(email: Email, status: EmailStatus, now: datetime) -> None:
        # A final email keeps its log, not its content (attendee data it no longer needs).
        email.status = status
        email.claim_token = None
        email.next_attempt_at = None
        email.content = None
        email.updated_at = now

    async def _publish(self, session: AsyncSession, email: Email, message: Message) -> None:
        attempts = getattr(message, "attempts", 0)
        envelope = Envelope.wrap(
            message,
            source=SOURCE,
            subject=str(email.reservation_id),
            correlationid=email.correlation_id,
            causationid=email.command_id,
            # Stable per email, event and attempt: a repeated publication is deduplicable.
            id=uuid.uuid5(email.id, f"{message.message_type}:{attempts}"),
        )
        await self._outbox.add(session, envelope)


def _clean_error(error: str | None) -> str:
    # Reaches the log, the API and other services: no addresses, bounded length.
    text = redact(error or "unknown error").strip() or "unknown error"
    return text[:MAX_ERROR_LENGTH]
