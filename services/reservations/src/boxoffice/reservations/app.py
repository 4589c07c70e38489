"""The reservations service: ``create_app(settings)`` builds the ASGI app and its runtime."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from boxoffice.chassis.clock import utcnow
from boxoffice.chassis.db import is_sqlite
from boxoffice.chassis.runtime import ServiceRuntime, create_service_app
from boxoffice.contracts import Topic
from boxoffice.reservations.api.attendees import router as attendees_router
from boxoffice.reservations.api.deps import ReservationsContext
from boxoffice.reservations.api.public import router as public_router
from boxoffice.reservations.api.reservations import router as reservations_router
from boxoffice.reservations.backoffice import router as backoffice_router
from boxoffice.reservations.handlers import (
    inventory_events_handler,
    notifications_events_handler,
    payments_events_handler,
    prepare_inventory_events,
    reservations_commands_handler,
)
from boxoffice.reservations.metrics import register_metrics
from boxoffice.reservations.models import messaging_tables
from boxoffice.reservations.ratelimit import RateLimiter
from boxoffice.reservations.service import Clock, ReservationService
from boxoffice.reservations.settings import Settings
from boxoffice.reservations.sweeper import expiry_sweeper
from boxoffice.reservations.waiting import OutcomeSignals, outcome_listener

MIGRATIONS = Path(__file__).parent / "migrations"
CONSUMER_GROUP = "reservations"


def create_app(settings: Settings, *, clock: Clock = utcnow) -> FastAPI:
    """Build the reservations service: HTTP routes, consumers, outbox relay, sweeper.

    Args:
        settings: the service's settings.
        clock: the source of "now" (tests pass a fixed one).
    """
    runtime = ServiceRuntime(
        settings,
        tables=messaging_tables,
        migrations=MIGRATIONS,
        consumes=[
            Topic.INVENTORY_EVENTS,
            Topic.NOTIFICATIONS_EVENTS,
            Topic.RESERVATIONS_COMMANDS,
            Topic.PAYMENTS_EVENTS,
        ],
        produces=[
            Topic.INVENTORY_COMMANDS,
            Topic.RESERVATIONS_EVENTS,
            Topic.NOTIFICATIONS_COMMANDS,
        ],
    )
    notified = not is_sqlite(settings.database_url)

    def outcome_poll_interval() -> float:
        if notified:
            return max(settings.outcome_poll_seconds, settings.outcome_poll_seconds_notified)
        return settings.outcome_poll_seconds

    signals = OutcomeSignals(runtime.sessions, poll_interval=outcome_poll_interval)
    service = ReservationService(
        runtime.outbox,
        clock=clock,
        on_outcome=signals.notify,
        sweep_batch_size=settings.expiry_sweep_batch_size,
        ticket_code_key=settings.ticket_code_key,
        public_hold=timedelta(minutes=settings.public_hold_minutes),
        share_link_grace=timedelta(hours=settings.share_link_grace_hours),
    )
    runtime.consumer.subscribe(
        Topic.INVENTORY_EVENTS,
        inventory_events_handler(service),
        group=CONSUMER_GROUP,
        prepare=prepare_inventory_events,
    )
    for topic, handler in (
        (Topic.NOTIFICATIONS_EVENTS, notifications_events_handler(service)),
        (Topic.RESERVATIONS_COMMANDS, reservations_commands_handler(service)),
        (Topic.PAYMENTS_EVENTS, payments_events_handler(service)),
    ):
        runtime.consumer.subscribe(topic, handler, group=CONSUMER_GROUP)
    runtime.add_background(
        "expiry-sweeper",
        expiry_sweeper(
            runtime.sessions,
            service,
            interval=settings.expiry_sweep_interval_seconds,
            batch_size=settings.expiry_sweep_batch_size,
            observe_lag=register_metrics(runtime.metrics),
        ),
    )
    runtime.add_background("outcome-listener", outcome_listener(runtime.engine, signals))
    app = create_service_app(
        runtime,
        title="boxoffice reservations",
        routers=[reservations_router, attendees_router, public_router, backoffice_router],
    )
    app.state.reservations = ReservationsContext(
        settings=settings,
        sessions=runtime.sessions,
        service=service,
        signals=signals,
        public_limiter=RateLimiter(
            settings.public_rate_limit_requests, settings.public_rate_limit_window_seconds
        ),
    )
    return app
