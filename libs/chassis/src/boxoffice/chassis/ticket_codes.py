"""Signed ticket codes: what a ticket's QR code carries and a scanner verifies."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

_SALT = "boxoffice.ticket.v1"


class InvalidTicketCode(ValueError):
    """The code was not signed with our key or was altered."""


@dataclass(frozen=True)
class TicketCode:
    """What a valid ticket code says."""

    ticket_id: uuid.UUID
    reservation_id: uuid.UUID
    event_id: uuid.UUID


def sign_ticket_code(secret: str, code: TicketCode) -> str:
    """A compact, URL-safe, signed code for one ticket."""
    serializer = URLSafeSerializer(secret, salt=_SALT)
    return serializer.dumps([code.ticket_id.hex, code.reservation_id.hex, code.event_id.hex])


def verify_ticket_code(secret: str, signed: str) -> TicketCode:
    """Check the signature and read the code; raises ``InvalidTicketCode``."""
    serializer = URLSafeSerializer(secret, salt=_SALT)
    try:
        ticket, reservation, event = serializer.loads(signed)
        return TicketCode(uuid.UUID(ticket), uuid.UUID(reservation), uuid.UUID(event))
    except (BadSignature, ValueError, TypeError) as error:
        raise InvalidTicketCode("the ticket code is not valid") from error
