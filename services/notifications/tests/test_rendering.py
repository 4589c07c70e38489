"""Writing emails: languages, time zones, escaping, the ticket PDF and event.ics."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pypdf
import pytest
from icalendar import Calendar

from boxoffice.contracts import SendReservationLink
from boxoffice.notifications.locales import LOCALES, choose_language
from boxoffice.notifications.rendering import EmailComposer, RenderError
from boxoffice.notifications.service import TicketContent
from services.notifications.tests.support import (
    make_event,
    make_settings,
    make_ticket,
    send_reservation_link,
)


@pytest.fixture(scope="module")
def composer() -> EmailComposer:
    return EmailComposer(make_settings("sqlite+aiosqlite://", 1025))


def _ticket_email(
    composer: EmailComposer, *, language: str | None = None, **event_fields: str
) -> tuple[EmailMessage, TicketContent]:
    event = make_event(**event_fields)
    reservation_id = uuid.uuid4()
    ticket = make_ticket(
        event, reservation_id, first_name="Zoë", last_name="Weiß", language=language
    )
    content = TicketContent(reservation_id=reservation_id, event=event, ticket=ticket)
    return composer.ticket_email(ticket.email_id, content), content


def _text(message: EmailMessage, subtype: str = "plain") -> str:
    part = message.get_body((subtype,))
    assert isinstance(part, EmailMessage)
    content = part.get_content()
    assert isinstance(content, str)
    return content


@pytest.mark.parametrize(
    ("language", "subject", "when"),
    [
        ("de", "Ihr Ticket für Swiss Python Summit", "Samstag, 14. März 2026, 19:30 \u2013 23:00"),
        ("de-CH", "Ihr Ticket für Swiss Python Summit", "Samstag, 14. März 2026"),
        ("it_IT", "Il tuo biglietto per Swiss Python Summit", "sabato 14 marzo 2026, 19:30"),
        ("en", "Your ticket for Swiss Python Summit", "Saturday, 14 March 2026, 19:30"),
        ("fr", "Your ticket for Swiss Python Summit", "Saturday, 14 March 2026, 19:30"),
        (None, "Your ticket for Swiss Python Summit", "Saturday, 14 March 2026, 19:30"),
    ],
)
def test_the_attendees_language_is_used_where_translated_else_english(
    composer: EmailComposer, language: str | None, subject: str, when: str
) -> None:
    message, _ = _ticket_email(composer, language=language)
    assert message["Subject"] == subject
    assert when in _text(message)
    assert when in _text(message, "html")
    expected_language = choose_language(language, composer.languages)
    assert message["Content-Language"] == expected_language
    assert expected_language in {"de", "it"} or language in {None, "fr", "en"}


def test_every_supported_language_has_all_templates(composer: EmailComposer) -> None:
    assert composer.languages == frozenset(LOCALES) == {"en", "de", "it"}


def test_times_are_shown_in_the_events_time_zone(composer: EmailComposer) -> None:
    message, _ = _ticket_email(composer, timezone="America/New_York")
    assert "Saturday, 14 March 2026, 14:30 \u2013 18:00 (EDT)" in _text(message)


def test_html_is_escaped_and_plain_text_is_not(composer: EmailComposer) -> None:
    message, _ = _ticket_email(composer, name="Rock & <script>alert(1)</script>")
    html = _text(message, "html")
    assert "<script>" not in html
    assert "Rock &amp; &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Rock & <script>alert(1)</script>" in _text(message)


def test_the_pdf_holds_the_ticket_in_the_attendees_language(composer: EmailComposer) -> None:
    message, content = _ticket_email(composer, language="de")
    [pdf_part] = [
        p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"
    ]
    payload = pdf_part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    text = pypdf.PdfReader(io.BytesIO(payload)).pages[0].extract_text()
    for expected in (
        "Zoë Weiß",
        "Swiss Python Summit",
        "General Admission",
        "Kongresshaus, Zürich",
        "Kategorie",
        "Samstag, 14. März 2026",
        str(content.reservation_id),
        str(content.ticket.ticket_id),
    ):
        assert expected in text


def test_the_calendar_file_has_the_event_in_utc(composer: EmailComposer) -> None:
    message, content = _ticket_email(composer, timezone="Asia/Tokyo")
    [ics_part] = [p for p in message.iter_attachments() if p.get_filename() == "event.ics"]
    assert ics_part.get_content_type() == "text/calendar"
    payload = ics_part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    calendar = Calendar.from_ical(payload)
    assert str(calendar["method"]) == "PUBLISH"
    [vevent] = calendar.events
    assert vevent.start == datetime(2026, 3, 14, 18, 30, tzinfo=UTC)
    assert isinstance(vevent.start, datetime)
    assert vevent.start.tzinfo is not None
    assert vevent.start.utcoffset() == timedelta(0)
    assert vevent.end == datetime(2026, 3, 14, 22, 0, tzinfo=UTC)
    assert str(vevent["summary"]) == "Swiss Python Summit"
    assert str(vevent["location"]) == "Kongresshaus, Zürich"
    assert str(vevent["uid"]) == f"{content.event.event_id}@boxoffice.localhost"


def test_an_unknown_time_zone_cannot_be_rendered(composer: EmailComposer) -> None:
    with pytest.raises(RenderError, match="time zone"):
        _ticket_email(composer, timezone="Mars/Olympus_Mons")


def test_a_share_link_must_be_a_web_address(composer: EmailComposer) -> None:
    command = send_reservation_link().data
    bad = SendReservationLink.model_validate(
        {**command.model_dump(), "share_url": "javascript:alert(1)"}
    )
    with pytest.raises(RenderError, match="http"):
        composer.reservation_link_email(bad.email_id, bad)


@pytest.mark.parametrize(
    ("language", "minor", "currency", "expected"),
    [
        ("en", 123450, "CHF", "CHF 1,234.50"),
        ("de", 123450, "EUR", "EUR 1.234,50"),
        ("en", 5000, "JPY", "JPY 5,000"),
        ("it", 1234567, "KWD", "KWD 1.234,567"),
        ("en", 0, "USD", "USD 0.00"),
    ],
)
def test_amounts_follow_the_currencys_minor_unit(
    language: str, minor: int, currency: str, expected: str
) -> None:
    assert LOCALES[language].money(minor, currency) == expected


def test_an_event_over_several_days_shows_both_dates() -> None:
    period = LOCALES["en"].period(
        datetime(2026, 7, 1, 7, 0, tzinfo=UTC),
        datetime(2026, 7, 3, 16, 0, tzinfo=UTC),
        "Europe/Rome",
    )
    assert period == "Wednesday, 1 July 2026, 09:00 \u2013 Friday, 3 July 2026, 18:00 (CEST)"


def test_an_internationalised_address_is_kept_as_is(composer: EmailComposer) -> None:
    event = make_event()
    reservation_id = uuid.uuid4()
    ticket = make_ticket(event, reservation_id, email_address="zoë@exämple.ch")
    content = TicketContent(reservation_id=reservation_id, event=event, ticket=ticket)
    message = composer.ticket_email(ticket.email_id, content)
    assert message["To"].addresses[0].addr_spec == "zoë@exämple.ch"
