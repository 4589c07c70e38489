"""Messages of the notifications topics, keyed by reservation id."""

from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, Discriminator, Field, Tag

from boxoffice.contracts.common import Contact, CurrencyCode, EmailAddress, MinorAmount, Value
from boxoffice.contracts.envelope import Envelope, ReservationKeyed, envelope_type
from boxoffice.contracts.topics import Topic

# --- notifications.commands ---


class EventInfo(Value):
    """What an email says about the event, so notifications keeps no event replica."""

    event_id: UUID
    slug: str
    name: str
    timezone: str = Field(description="IANA time zone name, e.g. Europe/Zurich.")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    organization: str
    location: str | None = None


class TicketEmail(Value):
    """One ticket to email to its attendee."""

    email_id: UUID = Field(
        description="Assigned by reservations; the key of the delivery log, so resent "
        "commands do not send twice."
    )
    ticket_id: UUID
    ticket_code: str = Field(description="Signed code rendered as the QR code.")
    category_name: str
    attendee_first_name: str
    attendee_last_name: str
    attendee_email: EmailAddress
    language: str | None = None


class SendTickets(ReservationKeyed):
    """Email each ticket of a reservation to its attendee, one email per ticket."""

    message_type = "boxoffice.notifications.SendTickets.v1"
    topic = Topic.NOTIFICATIONS_COMMANDS

    event: EventInfo
    requested_by: str
    tickets: Annotated[list[TicketEmail], Field(min_length=1)]


class SendReservationLink(ReservationKeyed):
    """Email the contact the link where the pending reservation can be completed."""

    message_type = "boxoffice.notifications.SendReservationLink.v1"
    topic = Topic.NOTIFICATIONS_COMMANDS

    email_id: UUID = Field(description="Assigned by reservations; the key of the delivery log.")
    event: EventInfo
    contact: Contact
    share_url: str
    expires_at: AwareDatetime
    total_minor: MinorAmount
    currency: CurrencyCode


NotificationCommand = Annotated[
    Annotated[Envelope[SendTickets], Tag(SendTickets.message_type)]
    | Annotated[Envelope[SendReservationLink], Tag(SendReservationLink.message_type)],
    Discriminator(envelope_type),
]
"""Any envelope of ``notifications.commands``, discriminated by its ``type``."""

# --- notifications.events ---

Attempts = Annotated[int, Field(ge=1)]


class EmailSent(ReservationKeyed):
    """An email was handed over to the mail server."""

    message_type = "boxoffice.notifications.EmailSent.v1"
    topic = Topic.NOTIFICATIONS_EVENTS

    email_id: UUID
    ticket_id: UUID | None = None
    to: EmailAddress
    attempts: Attempts


class EmailRetrying(ReservationKeyed):
    """Sending an email failed; it will be tried again."""

    message_type = "boxoffice.notifications.EmailRetrying.v1"
    topic = Topic.NOTIFICATIONS_EVENTS

    email_id: UUID
    ticket_id: UUID | None = None
    attempts: Attempts
    last_error: str


class EmailFailed(ReservationKeyed):
    """Sending an email failed for good."""

    message_type = "boxoffice.notifications.EmailFailed.v1"
    topic = Topic.NOTIFICATIONS_EVENTS

    email_id: UUID
    ticket_id: UUID | None = None
    to: EmailAddress
    attempts: Attempts
    last_error: str


NotificationEvent = Annotated[
    Annotated[Envelope[EmailSent], Tag(EmailSent.message_type)]
    | Annotated[Envelope[EmailRetrying], Tag(EmailRetrying.message_type)]
    | Annotated[Envelope[EmailFailed], Tag(EmailFailed.message_type)],
    Discriminator(envelope_type),
]
"""Any envelope of ``notifications.events``, discriminated by its ``type``."""
