"""``POST /v1/attendees/csv``: read attendees from a CSV file (nothing is stored)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from boxoffice.chassis.auth import CurrentPrincipal
from boxoffice.chassis.errors import ApiError, error_responses
from boxoffice.reservations.attendees_csv import CsvNotReadable, parse_attendees_csv
from boxoffice.reservations.schemas import AttendeesCsvOut, CsvAttendeeOut, CsvErrorOut

router = APIRouter(prefix="/v1", tags=["attendees"])

MAX_CSV_BYTES = 2_000_000


@router.post(
    "/attendees/csv",
    response_model=AttendeesCsvOut,
    responses=error_responses(
        401, 413, 422, e422="The file is not readable as CSV (e.g. not UTF-8)"
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "first name, last name, email[, language[, reference]]; header "
            "optional; `,` or `;`; UTF-8 with or without BOM.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def read_attendees_csv(request: Request, _principal: CurrentPrincipal) -> AttendeesCsvOut:
    """Attendees ready for a create request, and per-row errors (``row`` = file line)."""
    content = await request.body()
    if len(content) > MAX_CSV_BYTES:
        raise ApiError(413, "CSV_TOO_LARGE", f"the file must be at most {MAX_CSV_BYTES} bytes")
    try:
        parsed = parse_attendees_csv(content)
    except CsvNotReadable as error:
        raise ApiError(422, "CSV_NOT_READABLE", str(error)) from error
    return AttendeesCsvOut(
        attendees=[CsvAttendeeOut.model_validate(attendee) for attendee in parsed.attendees],
        errors=[CsvErrorOut.model_validate(error) for error in parsed.errors],
    )
