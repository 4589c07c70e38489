"""The notifications service: ``create_app(settings)`` builds the ASGI app and its runtime."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from boxoffice.chassis.messaging import Handler
from boxoffice.chassis.runtime import ServiceRuntime, create_service_app
from boxoffice.contracts import Topic
from boxoffice.notifications.api import router as messages_router
from boxoffice.notifications.dispatcher import EmailDispatcher
from boxoffice.notifications.handlers import command_handler
from boxoffice.notifications.metrics import register_metrics
from boxoffice.notifications.models import messaging_tables
from boxoffice.notifications.render_pool import RenderPool
from boxoffice.notifications.rendering import EmailComposer
from boxoffice.notifications.service import EmailService
from boxoffice.notifications.settings import Settings
from boxoffice.notifications.smtp import SmtpMailer

MIGRATIONS = Path(__file__).parent / "migrations"

CONSUMER_GROUP = "notifications"


@dataclass(frozen=True)
class Notifications:
    """The parts of one notifications process, wired together.

    Tests drive ``handle_command`` and ``dispatcher`` directly, without a broker.
    """

    runtime: ServiceRuntime
    emails: EmailService
    dispatcher: EmailDispatcher
    handle_command: Handler


def build_notifications(settings: Settings) -> Notifications:
    """Wire runtime, rules, dispatcher and consumer; nothing is started."""
    runtime = ServiceRuntime(
        settings,
        tables=messaging_tables,
        migrations=MIGRATIONS,
        consumes=[Topic.NOTIFICATIONS_COMMANDS],
        produces=[Topic.NOTIFICATIONS_EVENTS],
    )
    emails = EmailService(runtime.outbox, settings)
    dispatcher = EmailDispatcher(
        runtime.sessions,
        emails,
        EmailComposer(settings),
        SmtpMailer(settings),
        settings,
        on_attempt=register_metrics(runtime.metrics),
        render_pool=(
            RenderPool(settings, settings.render_processes) if settings.render_processes else None
        ),
    )
    handle_command = command_handler(emails, on_queued=dispatcher.wake)
    runtime.consumer.subscribe(Topic.NOTIFICATIONS_COMMANDS, handle_command, group=CONSUMER_GROUP)
    runtime.add_background("email-dispatcher", dispatcher.run)
    return Notifications(
        runtime=runtime, emails=emails, dispatcher=dispatcher, handle_command=handle_command
    )


def create_app(settings: Settings) -> FastAPI:
    """Build the notifications service: HTTP routes, consumer, dispatcher, outbox relay."""
    notifications = build_notifications(settings)
    app = create_service_app(
        notifications.runtime, title="boxoffice notifications", routers=[messages_router]
    )
    app.state.notifications = notifications
    return app
