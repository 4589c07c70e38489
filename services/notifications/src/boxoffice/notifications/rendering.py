"""Writing emails: Jinja2 templates (HTML and plain text), the ticket PDF and ``event.ics``."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from pydantic import ValidationError

from boxoffice.chassis.clock import utcnow
from boxoffice.contracts import SendReservationLink
from boxoffice.notifications.ics import event_calendar
from boxoffice.notifications.locales import LOCALES, Locale, choose_language
from boxoffice.notifications.models import EmailKind
from boxoffice.notifications.service import EmailClaim, TicketContent
from boxoffice.notifications.settings import Settings
from boxoffice.notifications.ticket_pdf import TicketPdfRenderer


@dataclass(frozen=True)
class _Attachment:
    filename: str
    maintype: str
    subtype: str
    content: bytes
    params: Mapping[str, str] = field(default_factory=dict)


class RenderError(ValueError):
    """The email cannot be written from its content; trying again will not help."""


def template_environment() -> Environment:
    """The templates shipped in the package; HTML is autoescaped, plain text is not."""
    return Environment(
        loader=PackageLoader("boxoffice.notifications", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


class EmailComposer:
    """Turns a claimed email into the MIME message to send.

    Args:
        settings: supplies the sender, the Message-ID domain and the PDF font.
    """

    def __init__(self, settings: Settings) -> None:
        self._mail_from = settings.mail_from
        self._domain = settings.mail_domain
        self._templates = template_environment()
        self._pdf = TicketPdfRenderer(settings.ticket_pdf_font)
        self.languages = frozenset(
            language
            for language in LOCALES
            if f"{language}/ticket.html" in self._templates.list_templates()
        )

    def compose(self, claim: EmailClaim) -> EmailMessage:
        """The message for one attempt; raises :class:`RenderError` for bad content."""
        try:
            if claim.kind == EmailKind.TICKET:
                return self.ticket_email(
                    claim.email_id, TicketContent.model_validate(claim.content)
                )
            return self.reservation_link_email(
                claim.email_id, SendReservationLink.model_validate(claim.content)
            )
        except ValidationError as error:
            raise RenderError(
                f"the stored content is not valid: {error.error_count()} errors"
            ) from None

    def locale(self, requested: str | None) -> Locale:
        """The locale emails are written in for a requested language."""
        return LOCALES[choose_language(requested, self.languages)]

    def ticket_email(self, email_id: uuid.UUID, content: TicketContent) -> EmailMessage:
        """A ticket's email to its attendee, with the ticket PDF and ``event.ics``."""
        ticket, event = content.ticket, content.event
        locale = self.locale(ticket.language)
        try:
            when = locale.period(event.starts_at, event.ends_at, event.timezone)
        except (KeyError, ValueError) as error:  # ZoneInfoNotFoundError is a KeyError
            raise RenderError("the event's time zone is unknown") from error
        attendee_name = f"{ticket.attendee_first_name} {ticket.attendee_last_name}".strip()
        context = {
            "event_name": event.name,
            "when": when,
            "location": event.location,
            "organization": event.organization,
            "category": ticket.category_name,
            "attendee_first_name": ticket.attendee_first_name,
            "attendee_name": attendee_name,
            "reservation_id": str(content.reservation_id),
            "ticket_id": str(ticket.ticket_id),
        }
        pdf = self._pdf.render(
            locale=locale, event=event, ticket=ticket, reservation_id=content.reservation_id
        )
        labels = locale.labels
        description = (
            f"{labels['category']}: {ticket.category_name}\n"
            f"{labels['attendee']}: {attendee_name}\n"
            f"{labels['reservation']}: {content.reservation_id}"
        )
        ics = event_calendar(
            event, description=description, mail_domain=self._domain, stamp=utcnow()
        )
        return self._message(
            email_id,
            template="ticket",
            locale=locale,
            context=context,
            to=_address(attendee_name, ticket.attendee_email),
            attachments=(
                _Attachment(f"ticket-{ticket.ticket_id}.pdf", "application", "pdf", pdf),
                _Attachment("event.ics", "text", "calendar", ics, {"method": "PUBLISH"}),
            ),
        )

    def reservation_link_email(
        self, email_id: uuid.UUID, command: SendReservationLink
    ) -> EmailMessage:
        """The email to the contact person with the link to complete the reservation."""
        if urlsplit(command.share_url).scheme not in {"https", "http"}:
            raise RenderError("the share link is not an http(s) URL")
        event, contact = command.event, command.contact
        locale = self.locale(contact.language)
        try:
            when = locale.period(event.starts_at, event.ends_at, event.timezone)
            expires = locale.moment(command.expires_at, event.timezone)
        except (KeyError, ValueError) as error:
            raise RenderError("the event's time zone is unknown") from error
        context = {
            "event_name": event.name,
            "when": when,
            "location": event.location,
            "organization": event.organization,
            "contact_first_name": contact.first_name,
            "total": locale.money(command.total_minor, command.currency),
            "expires": expires,
            "share_url": command.share_url,
            "reservation_id": str(command.reservation_id),
        }
        name = f"{contact.first_name} {contact.last_name}".strip()
        return self._message(
            email_id,
            template="reservation_link",
            locale=locale,
            context=context,
            to=_address(name, contact.email),
        )

    def _message(
        self,
        email_id: uuid.UUID,
        *,
        template: str,
        locale: Locale,
        context: dict[str, Any],
        to: Address,
        attachments: Sequence[_Attachment] = (),
    ) -> EmailMessage:
        folder = locale.language
        subject = " ".join(
            self._templates.get_template(f"{folder}/{template}.subject.txt").render(context).split()
        )
        context = {**context, "subject": subject, "language": locale.language}
        text = self._templates.get_template(f"{folder}/{template}.txt").render(context)
        html = self._templates.get_template(f"{folder}/{template}.html").render(context)
        message = EmailMessage()
        message["From"] = self._mail_from
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(utcnow())
        # Derived from the email id: a copy sent again after a crash is recognisable.
        message["Message-ID"] = f"<{email_id}@{self._domain}>"
        message["Auto-Submitted"] = "auto-generated"
        message["X-Auto-Response-Suppress"] = "All"
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        for attachment in attachments:
            message.add_attachment(
                attachment.content,
                maintype=attachment.maintype,
                subtype=attachment.subtype,
                filename=attachment.filename,
                params=dict(attachment.params),
            )
        # Last: turning the message multipart moves Content-* headers into the first part.
        message["Content-Language"] = locale.language
        return message


def _address(name: str, address: str) -> Address:
    """The recipient header; raises :class:`RenderError` for an unusable address."""
    try:
        return Address(display_name=name, addr_spec=address)
    except ValueError:
        # The parser refuses internationalised local parts (RFC 6531), which are valid:
        # they are sent with SMTPUTF8, or refused by a server that lacks it.
        username, _, domain = address.rpartition("@")
        if not username or not domain or any(c in address for c in "<>\r\n"):
            raise RenderError("the recipient address is not valid") from None
        return Address(display_name=name, username=username, domain=domain)
