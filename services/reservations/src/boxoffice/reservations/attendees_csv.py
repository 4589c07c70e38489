"""Reading attendees from a CSV file: first name, last name, email[, language[, reference]]."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from boxoffice.contracts import EmailAddress

MAX_ROWS = 10_000
COLUMNS = ("first_name", "last_name", "email", "language", "reference")
REQUIRED = ("first_name", "last_name", "email")

# What a header cell may say for each column, compared without case, spaces, "_" or "-".
_HEADER_NAMES = {
    "first_name": {"firstname", "first", "givenname"},
    "last_name": {"lastname", "last", "surname", "familyname"},
    "email": {"email", "emailaddress", "mail"},
    "language": {"language", "lang", "locale"},
    "reference": {"reference", "ref", "externalreference"},
}
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
_EMAIL = TypeAdapter[str](EmailAddress)
_MAX_LENGTH = {"first_name": 200, "last_name": 200, "email": 254, "language": 20, "reference": 200}


class CsvNotReadable(ValueError):
    """The file is not text we can read (not UTF-8, or not CSV at all)."""


@dataclass
class ParsedAttendees:
    """The valid attendees, and one error per invalid field with its line number."""

    attendees: list[dict[str, str | None]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    rows: list[tuple[int, dict[str, str | None]]] = field(default_factory=list)
    """Every data row read, valid or not, with its line number (to correct it in a form)."""


def _normalise(cell: str) -> str:
    return re.sub(r"[\s_\-]", "", cell.strip().lower())


def _header_columns(row: list[str]) -> list[str | None] | None:
    """The column of each cell when ``row`` is a header, else None."""
    columns: list[str | None] = []
    for cell in row:
        name = _normalise(cell)
        columns.append(next((col for col, names in _HEADER_NAMES.items() if name in names), None))
    known = [column for column in columns if column is not None]
    return columns if "email" in known or len(known) >= 2 else None


def _delimiter(text: str) -> str:
    """``;`` when the first non-blank line has more of them than commas, else ``,``."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return ";" if first.count(";") > first.count(",") else ","


def parse_attendees_csv(content: bytes) -> ParsedAttendees:
    """Read attendees; nothing is created, invalid rows are reported, not dropped silently.

    Raises:
        CsvNotReadable: the bytes are not UTF-8 text or not CSV.
    """
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CsvNotReadable("the file must be UTF-8 text") from error
    parsed = ParsedAttendees()
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    columns: list[str | None] = list(COLUMNS)
    first = True
    rows = 0
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if first:
                first = False
                header = _header_columns(row)
                if header is not None:
                    columns = header
                    continue
            rows += 1
            if rows > MAX_ROWS:
                parsed.errors.append(
                    {"row": line, "field": None, "message": f"at most {MAX_ROWS} rows are read"}
                )
                break
            _read_row(parsed, row, line, columns)
    except csv.Error as error:
        raise CsvNotReadable(f"line {reader.line_num}: {error}") from error
    return parsed


def _read_row(
    parsed: ParsedAttendees, row: list[str], line: int, columns: list[str | None]
) -> None:
    values: dict[str, str | None] = dict.fromkeys(COLUMNS)
    errors: list[dict[str, Any]] = []
    extra = [cell for cell in row[len(columns) :] if cell.strip()]
    if extra:
        errors.append({"row": line, "field": None, "message": "too many columns"})
    for column, cell in zip(columns, row, strict=False):
        if column is not None and cell.strip():
            values[column] = cell.strip()
    for column in COLUMNS:
        value = values[column]
        if value is None:
            if column in REQUIRED:
                errors.append({"row": line, "field": column, "message": "is required"})
            continue
        if len(value) > _MAX_LENGTH[column]:
            errors.append(
                {
                    "row": line,
                    "field": column,
                    "message": f"at most {_MAX_LENGTH[column]} characters",
                }
            )
        elif column == "email":
            try:
                _EMAIL.validate_python(value)
            except ValidationError:
                errors.append({"row": line, "field": column, "message": "is not an email address"})
        elif column == "language" and not _LANGUAGE.match(value):
            errors.append(
                {
                    "row": line,
                    "field": column,
                    "message": "is not a language code (e.g. de-CH)",
                }
            )
    parsed.rows.append((line, values))
    if errors:
        parsed.errors.extend(errors)
    else:
        parsed.attendees.append(values)
