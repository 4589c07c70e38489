"""Messages of other systems: ``CreateReservation`` commands and received payments."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from boxoffice.contracts import (
    Attendee,
    Channel,
    Contact,
    CreateReservation,
    Envelope,
    HoldSeats,
    NewCategory,
    PaymentReceived,
    RefusalReason,
    ReservationCompleted,
    ReservationCreated,
    ReservationItem,
    ReservationRejected,
)
from services.reservations.tests.support import START, Harness, auth, example_2_body

SHOP = "shop.example.org"


def _command(
    slug: str, *items: ReservationItem, channel: Channel = Channel.PUBLIC
) -> Envelope[CreateReservation]:
    return Envelope.wrap(
        CreateReservation(
            reservation_id=uuid.uuid4(),
            event_slug=slug,
            channel=channel,
            contact=Contact(first_name="Ada", last_name="Lovelace", email="ada@example.org"),
            items=list(items),
        ),
        source=SHOP,
    )


async def test_a_public_shop_command_creates_a_reservation_on_the_public_channel(
    harness: Harness,
) -> None:
    seed = await harness.seed_event()
    command = _command(
        seed.slug,
        ReservationItem(
            category_id=seed.general_admission,
            attendees=[Attendee(first_name="Ada", last_name="Lovelace", email="ada@example.org")],
        ),
    )

    assert await harness.deliver(command)
    assert not await harness.deliver(command)

    [hold] = await harness.hold_commands()
    assert hold.reservation_id == command.data.reservation_id
    assert hold.channel == Channel.PUBLIC
    [created] = await harness.messages(ReservationCreated)
    assert isinstance(created, ReservationCreated)
    assert created.channel == Channel.PUBLIC
    await harness.answer(hold, "hold")
    fetched = await harness.client.get(
        f"/v1/reservations/{command.data.reservation_id}", headers=auth()
    )
    assert fetched.json()["status"] == "PENDING"
    assert fetched.json()["total"] == "100.00"
    # A public reservation holds its seats for minutes, not until tomorrow night.
    assert datetime.fromisoformat(fetched.json()["expires_at"]) == START + timedelta(minutes=25)


async def test_commands_that_cannot_be_served_are_rejected(harness: Harness) -> None:
    seed = await harness.seed_event()
    unknown_event = _command("nope", ReservationItem(category_id=seed.team, empty_seats=1))
    unknown_category = _command(seed.slug, ReservationItem(category_id=uuid.uuid4(), empty_seats=1))
    too_many_seats = _command(
        seed.slug,
        ReservationItem(new_category=NewCategory(name="X", price_minor=1), empty_seats=100_000),
        channel=Channel.BACKOFFICE,
    )

    for command in (unknown_event, unknown_category, too_many_seats):
        await harness.deliver(command)

    rejections = [
        m for m in await harness.messages(ReservationRejected) if isinstance(m, ReservationRejected)
    ]
    assert [(r.reservation_id, r.reason) for r in rejections] == [
        (unknown_event.data.reservation_id, RefusalReason.EVENT_NOT_FOUND),
        (unknown_category.data.reservation_id, RefusalReason.CATEGORY_NOT_FOUND),
        (too_many_seats.data.reservation_id, RefusalReason.INVALID_REQUEST),
    ]
    assert await harness.hold_commands() == []


def _payment(
    reservation_id: str, amount_minor: int, currency: str = "EUR"
) -> Envelope[PaymentReceived]:
    return Envelope.wrap(
        PaymentReceived(
            reservation_id=uuid.UUID(reservation_id),
            payment_id=f"pay-{uuid.uuid4().hex[:6]}",
            amount_minor=amount_minor,
            currency=currency,
            received_at=datetime(2030, 3, 10, 16, tzinfo=UTC),
        ),
        source="payments.example.org",
    )


async def test_a_payment_matching_the_total_completes_the_reservation(harness: Harness) -> None:
    seed = await harness.seed_event()
    body = example_2_body(seed)
    body["items"][0]["category"] = {"id": str(seed.general_admission)}
    created = await harness.create(seed, body)
    reservation_id = created.json()["id"]
    assert created.json()["total"] == "500.00"

    await harness.deliver(_payment(reservation_id, 49_999))
    await harness.deliver(_payment(reservation_id, 50_001))
    await harness.deliver(_payment(reservation_id, 50_000, "CHF"))
    still_pending = await harness.client.get(f"/v1/reservations/{reservation_id}", headers=auth())
    await harness.deliver(_payment(reservation_id, 50_000))
    completed = await harness.client.get(f"/v1/reservations/{reservation_id}", headers=auth())
    await harness.deliver(_payment(reservation_id, 50_000))

    assert still_pending.json()["status"] == "PENDING"
    assert completed.json()["status"] == "COMPLETE"
    [done] = await harness.messages(ReservationCompleted)
    assert isinstance(done, ReservationCompleted)
    assert done.completed_by.startswith("payment:")
    audit = await harness.client.get(f"/v1/reservations/{reservation_id}/audit", headers=auth())
    assert [entry["action"] for entry in audit.json()][-5:] == [
        "payment_mismatch",
        "payment_mismatch",
        "payment_mismatch",
        "completed",
        "payment_not_applied",
    ]
    assert len(await harness.messages(HoldSeats)) == 1
