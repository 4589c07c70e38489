"""Kafka subscribers: thin — the chassis dedupes by envelope id, the service queues."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.chassis.db import after_commit
from boxoffice.chassis.messaging import Handler
from boxoffice.contracts import Envelope, Message, SendReservationLink, SendTickets
from boxoffice.notifications.service import EmailService

logger = logging.getLogger(__name__)


def command_handler(emails: EmailService, *, on_queued: Callable[[], None]) -> Handler:
    """The handler of ``notifications.commands``.

    It only queues emails in the consumer's transaction: sending happens in the
    dispatcher, so a slow mail server never holds the partition and a rollback never
    has to "unsend" anything.

    Args:
        emails: the service's rules.
        on_queued: called once a transaction that queued emails has committed (wakes
            the dispatcher; never for rolled-back work).
    """

    async def handle(envelope: Envelope[Message], session: AsyncSession) -> None:
        queued = 0
        match envelope.data:
            case SendTickets() as command:
                queued = await emails.queue_ticket_emails(
                    session,
                    command,
                    command_id=envelope.id,
                    correlation_id=envelope.correlationid,
                )
            case SendReservationLink() as command:
                queued = await emails.queue_reservation_link(
                    session,
                    command,
                    command_id=envelope.id,
                    correlation_id=envelope.correlationid,
                )
            case _:  # the topic's contract admits nothing else; tolerate a newer one
                logger.warning("command type not handled", extra={"message_type": envelope.type})
        if queued:
            after_commit(session, on_queued)

    return handle
