"""The event as an iCalendar file (``event.ics``) attached to ticket emails."""

from __future__ import annotations

from datetime import UTC, datetime

from icalendar import Calendar, Event

from boxoffice.contracts import EventInfo

PRODUCT_ID = "-//boxoffice//notifications//EN"


def event_calendar(
    event: EventInfo, *, description: str, mail_domain: str, stamp: datetime
) -> bytes:
    """A ``PUBLISH`` calendar with one VEVENT for the event.

    Times are written in UTC, which every calendar shows in its user's zone, so no
    VTIMEZONE is needed. The UID is the event's, not the ticket's: importing two
    tickets of one event updates one calendar entry instead of adding two.

    Args:
        event: the event.
        description: the VEVENT description (e.g. category and reservation).
        mail_domain: qualifies the UID (``<event id>@<domain>``).
        stamp: the DTSTAMP, i.e. when the file was made.
    """
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    vevent = Event()
    vevent.add("uid", f"{event.event_id}@{mail_domain}")
    vevent.add("dtstamp", stamp.astimezone(UTC))
    vevent.add("dtstart", event.starts_at.astimezone(UTC))
    vevent.add("dtend", event.ends_at.astimezone(UTC))
    vevent.add("summary", event.name)
    vevent.add("description", description)
    if event.location:
        vevent.add("location", event.location)
    calendar.add_component(vevent)
    ics: bytes = calendar.to_ical()
    return ics
