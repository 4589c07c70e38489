"""The Create Reservation form: its state, read from and written back to HTML fields.

The form is an adapter: it turns fields into the same ``CreateReservationRequest`` the
JSON API takes, and the request's validation errors back into messages next to the
fields they concern. Field names: ``contact-<field>``, ``items-<i>-<field>`` and
``items-<i>-attendees-<j>-<field>``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from boxoffice.reservations.api.attendees import MAX_CSV_BYTES
from boxoffice.reservations.attendees_csv import CsvNotReadable, parse_attendees_csv
from boxoffice.reservations.schemas import CreateReservationRequest, RefusedLineOut

CategoryMode = Literal["existing", "new"]
AttendeesMode = Literal["manual", "csv", "empty"]
CONTACT_FIELDS = ("first_name", "last_name", "email", "company")

_ATTENDEES_MODES: dict[str, AttendeesMode] = {"manual": "manual", "csv": "csv", "empty": "empty"}
_BLOCK = re.compile(r"^items-(\d+)-category_mode$")
_ROW = re.compile(r"^items-(\d+)-attendees-(\d+)-first_name$")


@dataclass
class AttendeeRow:
    """One attendee being typed (or read from a CSV line), with its problems."""

    first_name: str = ""
    last_name: str = ""
    email: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def blank(self) -> bool:
        """Nothing typed: the row is ignored."""
        return not (self.first_name or self.last_name or self.email)


@dataclass
class CategoryBlock:
    """Attendees (or empty seats) for one category, existing or created on the fly."""

    category_mode: CategoryMode = "existing"
    category_id: str = ""
    new_name: str = ""
    new_price: str = ""
    attendees_mode: AttendeesMode = "manual"
    rows: list[AttendeeRow] = field(default_factory=lambda: [AttendeeRow()])
    empty_seats: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    refusal: str | None = None


@dataclass
class CreateForm:
    """Everything the organizer typed, and what is wrong with it."""

    contact: dict[str, str] = field(default_factory=lambda: dict.fromkeys(CONTACT_FIELDS, ""))
    blocks: list[CategoryBlock] = field(default_factory=lambda: [CategoryBlock()])
    add_seats_if_not_available: bool = False
    idempotency_key: str = field(default_factory=lambda: str(uuid.uuid4()))
    errors: dict[str, str] = field(default_factory=dict)
    alert: str | None = None

    @property
    def has_errors(self) -> bool:
        """Whether any message is shown next to a field."""
        return bool(
            self.errors
            or any(block.errors or any(row.errors for row in block.rows) for block in self.blocks)
        )


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _row(form: FormData, prefix: str) -> AttendeeRow:
    return AttendeeRow(
        first_name=_text(form, prefix + "first_name"),
        last_name=_text(form, prefix + "last_name"),
        email=_text(form, prefix + "email"),
    )


def read_form(form: FormData) -> CreateForm:
    """The form's state from the posted fields."""
    indexes = sorted({int(m.group(1)) for key in form if (m := _BLOCK.match(key))})
    blocks = []
    for index in indexes:
        prefix = f"items-{index}-"
        rows_at = sorted(
            {int(m.group(2)) for key in form if (m := _ROW.match(key)) and int(m.group(1)) == index}
        )
        category_mode = _text(form, prefix + "category_mode")
        attendees_mode = _text(form, prefix + "attendees_mode")
        blocks.append(
            CategoryBlock(
                category_mode="new" if category_mode == "new" else "existing",
                category_id=_text(form, prefix + "category_id"),
                new_name=_text(form, prefix + "new_name"),
                new_price=_text(form, prefix + "new_price"),
                attendees_mode=_ATTENDEES_MODES.get(attendees_mode, "manual"),
                rows=[_row(form, f"{prefix}attendees-{row}-") for row in rows_at],
                empty_seats=_text(form, prefix + "empty_seats"),
            )
        )
    return CreateForm(
        contact={name: _text(form, f"contact-{name}") for name in CONTACT_FIELDS},
        blocks=blocks or [CategoryBlock()],
        add_seats_if_not_available=_text(form, "add_seats_if_not_available") == "on",
        idempotency_key=_text(form, "idempotency_key") or str(uuid.uuid4()),
    )


async def read_csv_upload(block: CategoryBlock, upload: UploadFile | str | None) -> None:
    """Replace the block's rows with the CSV's rows, errors next to the rows they concern.

    The block then shows the rows as editable attendees, so a bad row is fixed in place.
    """
    if not isinstance(upload, UploadFile) or not upload.filename:
        block.errors["csv"] = "Choose a CSV file first."
        return
    content = await upload.read(MAX_CSV_BYTES + 1)
    if len(content) > MAX_CSV_BYTES:
        block.errors["csv"] = f"The file must be at most {MAX_CSV_BYTES // 1_000_000} MB."
        return
    try:
        parsed = parse_attendees_csv(content)
    except CsvNotReadable as error:
        block.errors["csv"] = f"The file cannot be read: {error}."
        return
    if not parsed.rows:
        block.errors["csv"] = "The file has no attendees."
        return
    rows = []
    for line, values in parsed.rows:
        row = AttendeeRow(
            first_name=values.get("first_name") or "",
            last_name=values.get("last_name") or "",
            email=values.get("email") or "",
        )
        row.errors = [
            f"Line {line}: {(error['field'] or 'row').replace('_', ' ')} {error['message']}"
            for error in parsed.errors
            if error["row"] == line
        ]
        rows.append(row)
    block.rows = rows
    block.attendees_mode = "manual"


def request_body(form: CreateForm) -> dict[str, Any]:
    """The JSON body of the create request; what is missing is noted next to its field."""
    items: list[dict[str, Any]] = []
    for block in form.blocks:
        category: dict[str, Any]
        if block.category_mode == "existing":
            if not block.category_id:
                block.errors["category_id"] = "Choose a category."
            category = {"id": block.category_id or None}
        else:
            category = {"new": {"name": block.new_name, "price": block.new_price or None}}
        item: dict[str, Any] = {"category": category}
        if block.attendees_mode == "empty":
            if not block.empty_seats.isdigit() or int(block.empty_seats) < 1:
                block.errors["empty_seats"] = "Enter a number of seats (1 or more)."
            item["empty_seats"] = block.empty_seats or None
        elif block.attendees_mode == "csv":
            block.errors["csv"] = "Upload the CSV file first, then check its rows."
        else:
            block.rows = [row for row in block.rows if not row.blank] or [AttendeeRow()]
            named = [row for row in block.rows if not row.blank]
            if not named:
                block.errors["attendees"] = "Add at least one attendee, or reserve empty seats."
            item["attendees"] = [
                {
                    "first_name": row.first_name,
                    "last_name": row.last_name,
                    "email": row.email or None,
                }
                for row in named
            ]
        items.append(item)
    for name in ("first_name", "last_name", "email"):
        if not form.contact[name]:
            form.errors[f"contact-{name}"] = "Required."
    return {
        "contact": {name: value for name, value in form.contact.items() if value},
        "items": items,
        "add_seats_if_not_available": form.add_seats_if_not_available,
    }


def validated(form: CreateForm, body: Mapping[str, Any]) -> CreateReservationRequest | None:
    """The create request, or None after placing each validation error next to its field."""
    try:
        request = CreateReservationRequest.model_validate(body)
    except ValidationError as error:
        place_errors(form, [(list(e["loc"]), e["msg"]) for e in error.errors()])
        return None
    return None if form.has_errors else request


def place_errors(form: CreateForm, errors: Iterable[tuple[Sequence[Any], str]]) -> None:
    """Put request errors (``loc`` as in the API, with or without ``body``) next to fields."""
    for loc, message in errors:
        path = [part for part in loc if part != "body"]
        text = message.removeprefix("Value error, ")
        text = text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
        if len(path) >= 2 and path[0] == "contact":
            form.errors.setdefault(f"contact-{path[1]}", text)
        elif len(path) >= 2 and path[0] == "items" and isinstance(path[1], int):
            _place_in_block(form.blocks[path[1]], path[2:], text)
        else:
            form.errors.setdefault("form", text)


def _place_in_block(block: CategoryBlock, path: Sequence[Any], text: str) -> None:
    """The first message per field wins (the form's own checks are the clearer ones)."""
    if path[:3] == ["category", "new", "name"]:
        block.errors.setdefault("new_name", text)
    elif path[:3] == ["category", "new", "price"]:
        block.errors.setdefault("new_price", text)
    elif path[:1] == ["category"]:
        field = "category_id" if block.category_mode == "existing" else "new_name"
        block.errors.setdefault(field, text)
    elif path[:1] == ["empty_seats"]:
        block.errors.setdefault("empty_seats", text)
    elif path[:1] == ["attendees"] and len(path) >= 3 and isinstance(path[1], int):
        named = [row for row in block.rows if not row.blank]
        if path[1] < len(named):
            named[path[1]].errors.append(f"{str(path[2]).replace('_', ' ').capitalize()}: {text}")
    elif path[:1] == ["attendees"]:
        block.errors.setdefault("attendees", text)
    elif not block.errors:
        block.errors["block"] = text


def explain_refusal(
    form: CreateForm,
    message: str,
    lines: Sequence[RefusedLineOut],
    category_names: Mapping[str, str],
) -> None:
    """Show inventory's refusal on the form: a summary and, per category, asked/available.

    ``category_names`` names the event's categories by id, for lines inventory sent
    without a name.
    """
    form.alert = f"The seats could not be reserved: {message}. Nothing was reserved."
    for line in lines:
        if 0 <= line.line_index < len(form.blocks):
            block = form.blocks[line.line_index]
            typed = (
                category_names.get(block.category_id)
                if block.category_mode == "existing"
                else block.new_name
            )
            name = line.category_name or typed or "this category"
            block.refusal = f"{line.asked} seats asked in {name}, {line.available} available."
