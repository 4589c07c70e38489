"""Business gauges of inventory: seats held and sold per upcoming event."""

from __future__ import annotations

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.chassis.clock import utcnow
from boxoffice.chassis.metrics import PREFIX, ServiceMetrics
from boxoffice.inventory.models import Event, TicketCategory


async def seat_gauges(session: AsyncSession) -> list[Metric]:
    """Capacity, held and sold seats of every event that has not ended yet."""
    rows = (
        await session.execute(
            select(
                Event.slug,
                Event.capacity,
                func.coalesce(func.sum(TicketCategory.held), 0),
                func.coalesce(func.sum(TicketCategory.sold), 0),
            )
            .outerjoin(TicketCategory, TicketCategory.event_id == Event.id)
            .where(Event.ends_at >= utcnow())
            .group_by(Event.id, Event.slug, Event.capacity)
            .order_by(Event.slug)
        )
    ).all()
    capacity = GaugeMetricFamily(
        f"{PREFIX}_event_capacity_seats", "Capacity of each upcoming event.", labels=["event"]
    )
    held = GaugeMetricFamily(
        f"{PREFIX}_seats_held", "Seats held (not yet sold) per upcoming event.", labels=["event"]
    )
    sold = GaugeMetricFamily(
        f"{PREFIX}_seats_sold", "Seats sold per upcoming event.", labels=["event"]
    )
    for slug, event_capacity, event_held, event_sold in rows:
        capacity.add_metric([slug], event_capacity)
        held.add_metric([slug], event_held)
        sold.add_metric([slug], event_sold)
    return [capacity, held, sold]


def register_metrics(metrics: ServiceMetrics) -> None:
    """Add inventory's business metrics to the service's registry."""
    metrics.add_database_gauges(seat_gauges)
