"""The languages emails are written in, and how dates and money read in each.

Deliberately small and explicit (no CLDR dependency): a language is supported when its
templates exist and it has a :class:`Locale` here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from zoneinfo import ZoneInfo

DEFAULT_LANGUAGE = "en"

# ISO 4217 minor-unit digits that are not 2.
_CURRENCY_DIGITS: Mapping[str, int] = MappingProxyType(
    {
        "BHD": 3,
        "CLP": 0,
        "ISK": 0,
        "JOD": 3,
        "JPY": 0,
        "KRW": 0,
        "KWD": 3,
        "OMR": 3,
        "TND": 3,
        "VND": 0,
    }
)


@dataclass(frozen=True)
class Locale:
    """How one language writes dates, amounts and the ticket's labels."""

    language: str
    weekdays: tuple[str, ...]
    """Monday first."""
    months: tuple[str, ...]
    date_pattern: str
    """Uses ``{weekday}``, ``{day}``, ``{month}``, ``{year}``."""
    decimal_separator: str
    group_separator: str
    labels: Mapping[str, str]
    """Texts of the ticket PDF, by key."""

    def date(self, moment: datetime) -> str:
        """The calendar date of ``moment`` (already in the wanted time zone)."""
        return self.date_pattern.format(
            weekday=self.weekdays[moment.weekday()],
            day=moment.day,
            month=self.months[moment.month - 1],
            year=moment.year,
        )

    def moment(self, value: datetime, timezone: str) -> str:
        """A point in time in ``timezone``, e.g. ``Saturday, 14 March 2026, 19:30 (CET)``."""
        local = value.astimezone(ZoneInfo(timezone))
        return f"{self.date(local)}, {local:%H:%M} ({local:%Z})"

    def period(self, starts_at: datetime, ends_at: datetime, timezone: str) -> str:
        """When an event takes place, in its own time zone; one date when on one day."""
        zone = ZoneInfo(timezone)
        start, end = starts_at.astimezone(zone), ends_at.astimezone(zone)
        if start.date() == end.date():
            return f"{self.date(start)}, {start:%H:%M} \u2013 {end:%H:%M} ({start:%Z})"
        return f"{self.date(start)}, {start:%H:%M} \u2013 {self.date(end)}, {end:%H:%M} ({end:%Z})"

    def money(self, minor: int, currency: str) -> str:
        """An amount in minor units, e.g. ``CHF 1,234.50``."""
        digits = _CURRENCY_DIGITS.get(currency, 2)
        amount = Decimal(minor).scaleb(-digits)
        whole, _, fraction = f"{amount:,.{digits}f}".partition(".")
        whole = whole.replace(",", self.group_separator)
        number = f"{whole}{self.decimal_separator}{fraction}" if fraction else whole
        return f"{currency} {number}"


LOCALES: Mapping[str, Locale] = MappingProxyType(
    {
        "en": Locale(
            language="en",
            weekdays=(
                "Monday",
                "Tuesday",
                "Wednesday",
                "Thursday",
                "Friday",
                "Saturday",
                "Sunday",
            ),
            months=(
                "January",
                "February",
                "March",
                "April",
                "May",
                "June",
                "July",
                "August",
                "September",
                "October",
                "November",
                "December",
            ),
            date_pattern="{weekday}, {day} {month} {year}",
            decimal_separator=".",
            group_separator=",",
            labels=MappingProxyType(
                {
                    "ticket": "Ticket",
                    "when": "When",
                    "where": "Where",
                    "category": "Category",
                    "attendee": "Attendee",
                    "reservation": "Reservation",
                    "ticket_id": "Ticket number",
                    "organizer": "Organizer",
                    "show_code": "Show this code at the entrance, printed or on your phone.",
                }
            ),
        ),
        "de": Locale(
            language="de",
            weekdays=(
                "Montag",
                "Dienstag",
                "Mittwoch",
                "Donnerstag",
                "Freitag",
                "Samstag",
                "Sonntag",
            ),
            months=(
                "Januar",
                "Februar",
                "März",
                "April",
                "Mai",
                "Juni",
                "Juli",
                "August",
                "September",
                "Oktober",
                "November",
                "Dezember",
            ),
            date_pattern="{weekday}, {day}. {month} {year}",
            decimal_separator=",",
            group_separator=".",
            labels=MappingProxyType(
                {
                    "ticket": "Ticket",
                    "when": "Wann",
                    "where": "Wo",
                    "category": "Kategorie",
                    "attendee": "Teilnehmer/in",
                    "reservation": "Reservierung",
                    "ticket_id": "Ticketnummer",
                    "organizer": "Veranstalter",
                    "show_code": "Zeigen Sie diesen Code am Eingang vor, gedruckt oder auf "
                    "dem Handy.",
                }
            ),
        ),
        "it": Locale(
            language="it",
            weekdays=(
                "lunedì",
                "martedì",
                "mercoledì",
                "giovedì",
                "venerdì",
                "sabato",
                "domenica",
            ),
            months=(
                "gennaio",
                "febbraio",
                "marzo",
                "aprile",
                "maggio",
                "giugno",
                "luglio",
                "agosto",
                "settembre",
                "ottobre",
                "novembre",
                "dicembre",
            ),
            date_pattern="{weekday} {day} {month} {year}",
            decimal_separator=",",
            group_separator=".",
            labels=MappingProxyType(
                {
                    "ticket": "Biglietto",
                    "when": "Quando",
                    "where": "Dove",
                    "category": "Categoria",
                    "attendee": "Partecipante",
                    "reservation": "Prenotazione",
                    "ticket_id": "Numero del biglietto",
                    "organizer": "Organizzatore",
                    "show_code": "Mostra questo codice all'ingresso, stampato o sul telefono.",
                }
            ),
        ),
    }
)


def choose_language(requested: str | None, available: frozenset[str]) -> str:
    """The language to write in: the requested one's primary subtag if available.

    ``de-CH``, ``de_AT`` and ``DE`` all give ``de``; anything unknown gives English.
    """
    if requested:
        primary = requested.strip().replace("_", "-").split("-", 1)[0].lower()
        if primary in available:
            return primary
    return DEFAULT_LANGUAGE
