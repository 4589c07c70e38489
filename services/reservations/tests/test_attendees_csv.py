"""Reading attendees from CSV: header or not, `,` or `;`, BOM or not, errors per row."""

from __future__ import annotations

import pytest

from boxoffice.reservations.attendees_csv import CsvNotReadable, parse_attendees_csv
from services.reservations.tests.support import Harness, auth


def test_a_semicolon_file_with_bom_and_header_in_any_order() -> None:
    content = (
        "\ufeffE-Mail;Last name;First name;Language\r\n"
        "ada@example.org;Lovelace;Ada;en\r\n"
        "\r\n"
        "grace@example.org;Hopper;Grace;\r\n"
    ).encode()

    parsed = parse_attendees_csv(content)

    assert parsed.errors == []
    assert parsed.attendees == [
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.org",
            "language": "en",
            "reference": None,
        },
        {
            "first_name": "Grace",
            "last_name": "Hopper",
            "email": "grace@example.org",
            "language": None,
            "reference": None,
        },
    ]


def test_a_comma_file_without_header_reports_errors_by_line() -> None:
    content = (
        'Ada,Lovelace,ada@example.org,en,"PO 1,2"\n'
        ",Hopper,grace@example.org\n"
        "Alan,Turing,not-an-email,english!\n"
        "Linus,Torvalds,linus@example.org,fi,ref,extra\n"
        "Émilie,du Châtelet,emilie@example.org\n"
    ).encode()

    parsed = parse_attendees_csv(content)

    assert [a["first_name"] for a in parsed.attendees] == ["Ada", "Émilie"]
    assert parsed.attendees[0]["reference"] == "PO 1,2"
    assert parsed.errors == [
        {"row": 2, "field": "first_name", "message": "is required"},
        {"row": 3, "field": "email", "message": "is not an email address"},
        {"row": 3, "field": "language", "message": "is not a language code (e.g. de-CH)"},
        {"row": 4, "field": None, "message": "too many columns"},
    ]


def test_bytes_that_are_not_utf8_are_refused() -> None:
    with pytest.raises(CsvNotReadable):
        parse_attendees_csv("Zoë,Ärger,z@example.org".encode("latin-1"))


async def test_the_endpoint_answers_attendees_and_errors_and_stores_nothing(
    harness: Harness,
) -> None:
    response = await harness.client.post(
        "/v1/attendees/csv",
        content=b"first_name,last_name,email\nAda,Lovelace,ada@example.org\nBob,,bob@example.org\n",
        headers={**auth(), "content-type": "text/csv"},
    )
    latin = await harness.client.post(
        "/v1/attendees/csv", content="Zoë".encode("latin-1"), headers=auth()
    )
    anonymous = await harness.client.post("/v1/attendees/csv", content=b"a,b,c@d.e")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "attendees": [
            {
                "first_name": "Ada",
                "last_name": "Lovelace",
                "email": "ada@example.org",
                "language": None,
                "reference": None,
            }
        ],
        "errors": [{"row": 3, "field": "last_name", "message": "is required"}],
    }
    assert latin.status_code == 422
    assert anonymous.status_code == 401
    assert await harness.messages() == []
