"""Business metrics of reservations: reservations by status, expiry lag."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.chassis.metrics import PREFIX, ServiceMetrics
from boxoffice.reservations.models import Reservation, ReservationStatus

EXPIRY_LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


async def status_gauges(session: AsyncSession) -> list[Metric]:
    """How many reservations are in each status (every status, zero included)."""
    counts = dict(
        (
            await session.execute(
                select(Reservation.status, func.count()).group_by(Reservation.status)
            )
        ).all()
    )
    gauge = GaugeMetricFamily(
        f"{PREFIX}_reservations", "Reservations by status.", labels=["status"]
    )
    for status in ReservationStatus:
        gauge.add_metric([status.value], counts.get(status, 0))
    return [gauge]


def register_metrics(metrics: ServiceMetrics) -> Callable[[float], None]:
    """Add reservations' business metrics; returns the sweeper's expiry-lag observer."""
    metrics.add_database_gauges(status_gauges)
    expiry_lag = metrics.histogram(
        "expiry_lag_seconds",
        "How late the sweeper expired reservations: its now minus their expires_at.",
        buckets=EXPIRY_LAG_BUCKETS,
    )
    return expiry_lag.observe
