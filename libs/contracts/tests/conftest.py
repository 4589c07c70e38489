"""Valid examples of every message type, shared by the tests."""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from boxoffice.contracts import (
    Attendee,
    CategoryUpserted,
    Channel,
    ConfirmSeats,
    Contact,
    CreateReservation,
    EmailFailed,
    EmailRetrying,
    EmailSent,
    EventInfo,
    EventUpserted,
    HeldLine,
    HoldLine,
    HoldSeats,
    Message,
    NewCategory,
    PaymentReceived,
    RefusalReason,
    RefusedLine,
    ReleaseSeats,
    ReservationCancelled,
    ReservationCompleted,
    ReservationCreated,
    ReservationExpired,
    ReservationExpiryChanged,
    ReservationItem,
    ReservationLine,
    ReservationOfflinePayment,
    ReservationPending,
    ReservationRejected,
    SeatsConfirmed,
    SeatsHeld,
    SeatsRefused,
    SeatsReleased,
    SendReservationLink,
    SendTickets,
    TicketEmail,
    Visibility,
)

EVENT_ID = UUID("6f1c2a52-7a3e-4c55-9d0e-0d5b7f1e8a01")
RESERVATION_ID = UUID("0b7e7c1d-3f0a-4a53-8f5d-5e9c2b4d6a02")
CATEGORY_ID = UUID("c5a0e1f2-9b8d-4c7e-a6f5-3d2c1b0a9e03")
TICKET_ID = UUID("a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c04")
EMAIL_ID = UUID("d4c3b2a1-6f5e-4b7a-9d8c-4c3b2a1f0e05")
STARTS_AT = datetime(2030, 5, 1, 18, 0, tzinfo=UTC)
EXPIRES_AT = datetime(2030, 4, 1, 12, 30, tzinfo=UTC)


def build_examples() -> list[Message]:
    """Build one valid message of each type, filling optional fields where there are some."""
    contact = Contact(
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.org",
        company="Analytical Engines",
        language="en",
    )
    event = EventInfo(
        event_id=EVENT_ID,
        slug="pycon-2030",
        name="PyCon 2030",
        timezone="Europe/Zurich",
        starts_at=STARTS_AT,
        ends_at=STARTS_AT + timedelta(hours=8),
        organization="PSF",
        location="Lugano",
    )
    refused = RefusedLine(
        line_index=0, category_id=CATEGORY_ID, category_name="Regular", asked=3, available=1
    )
    reservation = {"reservation_id": RESERVATION_ID, "event_id": EVENT_ID}
    return [
        HoldSeats(
            event_id=EVENT_ID,
            reservation_id=RESERVATION_ID,
            channel=Channel.BACKOFFICE,
            add_seats_if_not_available=True,
            lines=[
                HoldLine(category_id=CATEGORY_ID, quantity=2),
                HoldLine(new_category=NewCategory(name="Speakers", price_minor=0), quantity=1),
            ],
        ),
        ConfirmSeats(event_id=EVENT_ID, reservation_id=RESERVATION_ID),
        ReleaseSeats(event_id=EVENT_ID, reservation_id=RESERVATION_ID, reason="expired"),
        EventUpserted(
            event_id=EVENT_ID,
            organization="PSF",
            slug="pycon-2030",
            name="PyCon 2030",
            currency="CHF",
            timezone="Europe/Zurich",
            starts_at=STARTS_AT,
            ends_at=STARTS_AT + timedelta(hours=8),
            capacity=500,
            public_reservation_limit=5,
            version=3,
        ),
        CategoryUpserted(
            event_id=EVENT_ID,
            category_id=CATEGORY_ID,
            name="Regular",
            visibility=Visibility.PUBLIC,
            price_minor=12_000,
            max_seats=None,
            held=4,
            sold=10,
            created_on_the_fly=True,
            version=2,
        ),
        SeatsHeld(
            event_id=EVENT_ID,
            reservation_id=RESERVATION_ID,
            currency="CHF",
            lines=[
                HeldLine(
                    line_index=1,
                    category_id=CATEGORY_ID,
                    category_name="Speakers",
                    quantity=1,
                    unit_price_minor=0,
                    category_created=True,
                )
            ],
        ),
        SeatsRefused(
            event_id=EVENT_ID,
            reservation_id=RESERVATION_ID,
            reason=RefusalReason.NOT_ENOUGH_SEATS,
            message="only 1 seat left in Regular",
            lines=[refused],
        ),
        SeatsConfirmed(event_id=EVENT_ID, reservation_id=RESERVATION_ID),
        SeatsReleased(event_id=EVENT_ID, reservation_id=RESERVATION_ID, reason="cancelled"),
        CreateReservation(
            reservation_id=RESERVATION_ID,
            event_slug="pycon-2030",
            channel=Channel.PUBLIC,
            contact=contact,
            items=[
                ReservationItem(
                    category_id=CATEGORY_ID,
                    attendees=[
                        Attendee(first_name="Ada", last_name="Lovelace", email="ada@example.org")
                    ],
                ),
                ReservationItem(
                    new_category=NewCategory(name="Press", price_minor=0), empty_seats=2
                ),
            ],
            expires_at=EXPIRES_AT,
        ),
        ReservationCreated(**reservation, channel=Channel.PUBLIC, contact=contact, seats=3),
        ReservationPending(
            **reservation,
            lines=[
                ReservationLine(
                    category_id=CATEGORY_ID,
                    category_name="Regular",
                    quantity=3,
                    unit_price_minor=12_000,
                    subtotal_minor=36_000,
                )
            ],
            total_minor=36_000,
            currency="CHF",
            expires_at=EXPIRES_AT,
        ),
        ReservationRejected(
            **reservation,
            reason=RefusalReason.NOT_ENOUGH_SEATS,
            message="only 1 seat left in Regular",
            lines=[refused],
        ),
        ReservationCompleted(
            **reservation, total_minor=36_000, currency="CHF", completed_by="payments"
        ),
        ReservationCancelled(**reservation, cancelled_by="operator@example.org"),
        ReservationExpired(**reservation),
        ReservationExpiryChanged(**reservation, expires_at=EXPIRES_AT),
        ReservationOfflinePayment(
            **reservation, total_minor=36_000, currency="CHF", expires_at=EXPIRES_AT
        ),
        SendTickets(
            reservation_id=RESERVATION_ID,
            event=event,
            requested_by="operator@example.org",
            tickets=[
                TicketEmail(
                    email_id=EMAIL_ID,
                    ticket_id=TICKET_ID,
                    ticket_code="pycon-2030.a1b2.signature",
                    category_name="Regular",
                    attendee_first_name="Ada",
                    attendee_last_name="Lovelace",
                    attendee_email="ada@example.org",
                    language="en",
                )
            ],
        ),
        SendReservationLink(
            reservation_id=RESERVATION_ID,
            email_id=EMAIL_ID,
            event=event,
            contact=contact,
            share_url="https://tickets.example.org/r/0b7e7c1d",
            expires_at=EXPIRES_AT,
            total_minor=36_000,
            currency="CHF",
        ),
        EmailSent(
            reservation_id=RESERVATION_ID,
            email_id=EMAIL_ID,
            ticket_id=TICKET_ID,
            to="ada@example.org",
            attempts=1,
        ),
        EmailRetrying(
            reservation_id=RESERVATION_ID,
            email_id=EMAIL_ID,
            attempts=2,
            last_error="451 try again later",
        ),
        EmailFailed(
            reservation_id=RESERVATION_ID,
            email_id=EMAIL_ID,
            ticket_id=TICKET_ID,
            to="ada@example.org",
            attempts=5,
            last_error="550 mailbox unavailable",
        ),
        PaymentReceived(
            reservation_id=RESERVATION_ID,
            payment_id="pi_3Nabc",
            amount_minor=36_000,
            currency="CHF",
            received_at=EXPIRES_AT - timedelta(minutes=5),
            method="card",
        ),
    ]


@pytest.fixture(scope="session")
def examples() -> Mapping[type[Message], Message]:
    """One valid message per message class."""
    return {type(message): message for message in build_examples()}
