"""Business metrics of notifications: email attempts and emails by status."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.chassis.metrics import PREFIX, ServiceMetrics
from boxoffice.notifications.models import Email, EmailStatus
from boxoffice.notifications.service import DeliveryResult


async def email_gauges(session: AsyncSession) -> list[Metric]:
    """How many emails are in each delivery status (every status, zero included)."""
    counts = dict(
        (await session.execute(select(Email.status, func.count()).group_by(Email.status))).all()
    )
    gauge = GaugeMetricFamily(f"{PREFIX}_emails", "Emails by delivery status.", labels=["status"])
    for status in EmailStatus:
        gauge.add_metric([status.value], counts.get(status, 0))
    return [gauge]


def register_metrics(metrics: ServiceMetrics) -> Callable[[DeliveryResult], None]:
    """Add notifications' business metrics; returns the dispatcher's attempt observer."""
    metrics.add_database_gauges(email_gauges)
    sent = metrics.counter("emails_sent", "Emails the SMTP server accepted.")
    failed = metrics.counter(
        "emails_failed",
        "SMTP attempts that failed, by kind (temporary: tried again later; permanent: given up).",
        ["kind"],
    )
    sent.inc(0)
    for kind in ("temporary", "permanent"):
        failed.labels(kind)

    def observe(result: DeliveryResult) -> None:
        if result.delivered:
            sent.inc()
        else:
            failed.labels("permanent" if result.permanent else "temporary").inc()

    return observe
