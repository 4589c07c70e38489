"""Validation rules of the messages and their value types."""

from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from boxoffice.contracts import (
    Attendee,
    CategoryRef,
    CategoryUpserted,
    Contact,
    HoldLine,
    HoldSeats,
    NewCategory,
    PaymentReceived,
    ReservationItem,
    SeatsRefused,
)

CATEGORY_ID = UUID("c5a0e1f2-9b8d-4c7e-a6f5-3d2c1b0a9e03")
NEW_CATEGORY = {"name": "Speakers", "price_minor": 0}
ADA = {"first_name": "Ada", "last_name": "Lovelace"}


@pytest.mark.parametrize("model", [CategoryRef, HoldLine, ReservationItem])
@pytest.mark.parametrize(
    "category",
    [
        pytest.param({}, id="neither"),
        pytest.param({"category_id": CATEGORY_ID, "new_category": NEW_CATEGORY}, id="both"),
    ],
)
def test_category_is_exactly_one_of_id_and_new_category(
    model: type[CategoryRef], category: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError, match="exactly one of category_id and new_category"):
        model.model_validate({**category, "quantity": 1, "empty_seats": 1})


def test_category_given_by_id_or_created() -> None:
    by_id = HoldLine(category_id=CATEGORY_ID, quantity=2)
    created = HoldLine.model_validate({"new_category": NEW_CATEGORY, "quantity": 1})

    assert (by_id.category_id, by_id.new_category) == (CATEGORY_ID, None)
    assert created.new_category == NewCategory(name="Speakers", price_minor=0)


@pytest.mark.parametrize(
    "seats",
    [
        pytest.param({}, id="neither"),
        pytest.param({"attendees": [ADA], "empty_seats": 1}, id="both"),
    ],
)
def test_item_seats_are_exactly_one_of_attendees_and_empty_seats(seats: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="exactly one of attendees and empty_seats"):
        ReservationItem.model_validate({"category_id": CATEGORY_ID, **seats})


@pytest.mark.parametrize(
    "seats",
    [pytest.param({"attendees": []}, id="no-attendee"), pytest.param({"empty_seats": 0}, id="0")],
)
def test_item_asks_for_at_least_one_seat(seats: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ReservationItem.model_validate({"category_id": CATEGORY_ID, **seats})


def test_item_seats() -> None:
    named = ReservationItem(
        category_id=CATEGORY_ID, attendees=[Attendee(**ADA), Attendee(**ADA, reference="VIP")]
    )
    empty = ReservationItem(category_id=CATEGORY_ID, empty_seats=3)

    assert (named.seats, empty.seats) == (2, 3)


@pytest.mark.parametrize("name", ["", "x" * 101])
def test_new_category_name_length(name: str) -> None:
    with pytest.raises(ValidationError, match="name"):
        NewCategory(name=name, price_minor=0)


@pytest.mark.parametrize("quantity", [0, -1])
def test_quantities_are_positive(quantity: int) -> None:
    with pytest.raises(ValidationError, match="quantity"):
        HoldLine(category_id=CATEGORY_ID, quantity=quantity)


def test_hold_has_at_least_one_line() -> None:
    with pytest.raises(ValidationError, match="lines"):
        HoldSeats(event_id=CATEGORY_ID, reservation_id=CATEGORY_ID, channel="public", lines=[])


@pytest.mark.parametrize("currency", ["chf", "CH", "CHFF", "12A"])
def test_currency_is_an_iso_4217_code(currency: str) -> None:
    with pytest.raises(ValidationError, match="currency"):
        PaymentReceived.model_validate(
            {
                "reservation_id": CATEGORY_ID,
                "payment_id": "p1",
                "amount_minor": 100,
                "currency": currency,
                "received_at": "2030-01-01T00:00:00Z",
            }
        )


def test_money_is_not_negative() -> None:
    with pytest.raises(ValidationError, match="price_minor"):
        NewCategory(name="Free", price_minor=-1)


@pytest.mark.parametrize(
    "email",
    [
        "ada",
        "ada@",
        "@example.org",
        "ada@@example.org",
        "a@b@c",
        "ada @example.org",
        "a" * 245 + "@example.org",
    ],
)
def test_invalid_emails_are_rejected(email: str) -> None:
    with pytest.raises(ValidationError, match="email"):
        Contact(**ADA, email=email)


@pytest.mark.parametrize("email", ["ada@example.org", "ada+tickets@mail.example.co.uk", "a@b"])
def test_valid_emails_are_accepted(email: str) -> None:
    assert Contact(**ADA, email=email).email == email


def test_refusal_lines_default_to_none() -> None:
    refused = SeatsRefused.model_validate(
        {
            "event_id": CATEGORY_ID,
            "reservation_id": CATEGORY_ID,
            "reason": "EVENT_NOT_FOUND",
            "message": "no such event",
        }
    )

    assert refused.lines == []


def test_max_seats_must_be_explicit_even_when_unlimited() -> None:
    state = {
        "event_id": CATEGORY_ID,
        "category_id": CATEGORY_ID,
        "name": "Regular",
        "visibility": "public",
        "price_minor": 100,
        "held": 0,
        "sold": 0,
        "version": 1,
    }

    with pytest.raises(ValidationError, match="max_seats"):
        CategoryUpserted.model_validate(state)
    assert CategoryUpserted.model_validate({**state, "max_seats": None}).max_seats is None
