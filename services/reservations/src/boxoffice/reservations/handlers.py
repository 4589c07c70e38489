"""Kafka subscribers: thin — the consumer dedupes via the inbox, these call the service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.chassis.messaging import Handler
from boxoffice.contracts import (
    CategoryUpserted,
    CreateReservation,
    EmailFailed,
    EmailRetrying,
    EmailSent,
    Envelope,
    EventUpserted,
    Message,
    PaymentReceived,
    SeatsHeld,
    SeatsRefused,
)
from boxoffice.reservations import repository
from boxoffice.reservations.service import ReservationService


def inventory_events_handler(service: ReservationService) -> Handler:
    """Apply ``inventory.events``: the event/category replica and the outcomes of holds."""

    async def handle(envelope: Envelope[Message], session: AsyncSession) -> None:
        match envelope.data:
            case EventUpserted() as event:
                await service.replicate_event(session, event)
            case CategoryUpserted() as category:
                await service.replicate_category(session, category)
            case SeatsHeld():
                await service.seats_held(session, cast("Envelope[SeatsHeld]", envelope))
            case SeatsRefused():
                await service.seats_refused(session, cast("Envelope[SeatsRefused]", envelope))
            case _:
                pass  # SeatsConfirmed / SeatsReleased confirm what reservations already decided

    return handle


async def prepare_inventory_events(
    envelopes: Sequence[Envelope[Message]], session: AsyncSession
) -> None:
    """Load a batch's categories, and lock and load its reservations, once for all."""
    await repository.load_categories(
        session,
        [e.data.category_id for e in envelopes if isinstance(e.data, CategoryUpserted)],
    )
    await repository.lock_reservations(
        session,
        [e.data.reservation_id for e in envelopes if isinstance(e.data, SeatsHeld | SeatsRefused)],
    )


def notifications_events_handler(service: ReservationService) -> Handler:
    """Apply ``notifications.events``: the delivery of ticket emails."""

    async def handle(envelope: Envelope[Message], session: AsyncSession) -> None:
        match envelope.data:
            case EmailSent() | EmailRetrying() | EmailFailed() as report:
                await service.email_progress(session, report)
            case _:
                pass

    return handle


def reservations_commands_handler(service: ReservationService) -> Handler:
    """Apply ``reservations.commands``: reservations asked by other systems."""

    async def handle(envelope: Envelope[Message], session: AsyncSession) -> None:
        if isinstance(envelope.data, CreateReservation):
            await service.create_from_command(
                session, cast("Envelope[CreateReservation]", envelope)
            )

    return handle


def payments_events_handler(service: ReservationService) -> Handler:
    """Apply ``payments.events``: a received payment completes its reservation."""

    async def handle(envelope: Envelope[Message], session: AsyncSession) -> None:
        if isinstance(envelope.data, PaymentReceived):
            await service.payment_received(session, cast("Envelope[PaymentReceived]", envelope))

    return handle
