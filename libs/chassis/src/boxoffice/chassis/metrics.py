"""Prometheus metrics of one service process, served at ``/metrics``.

Every app has a registry of its own (tests build many apps in one process). Three
kinds of metrics live in it:

- instruments updated where things happen: HTTP requests (by route template, method,
  status), the broker's consume/publish metrics (faststream's Prometheus middleware),
  business counters a service adds (emails sent, expiry lag);
- counters kept by the chassis objects themselves (consumer stats, relay), read when
  scraped;
- gauges that come from the database (outbox backlog, reservations by status, ...):
  refreshed by the async ``/metrics`` endpoint before it renders, at most once per
  ``cache_seconds``, so a scrape never blocks the event loop on a synchronous query and
  a burst of scrapes costs one round of queries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from boxoffice.chassis.clock import utcnow
from boxoffice.chassis.tables import MessagingTables
from boxoffice.chassis.tracing import Tracing, finish_server_span

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker

    from boxoffice.chassis.messaging import Consumer
    from boxoffice.chassis.outbox import OutboxRelay

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "boxoffice"

DatabaseGauges = Callable[[AsyncSession], Awaitable[Iterable[Metric]]]
"""Reads gauges from the service's database (a few cheap aggregate queries)."""

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServiceMetrics:
    """The metrics registry of one service process.

    Args:
        sessions: the service's session factory (for database gauges).
        cache_seconds: how long database gauges are reused between scrapes.
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, cache_seconds: float = 5.0
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._sessions = sessions
        self._cache_seconds = cache_seconds
        self._database_gauges: list[DatabaseGauges] = []
        self._cached: list[Metric] = []
        self._refreshed_at: float | None = None
        self._refresh_lock = asyncio.Lock()
        self._async_sources: list[Callable[[], Awaitable[Iterable[Metric]]]] = []
        self._instruments: dict[str, Counter | Histogram] = {}
        self.http_requests = Counter(
            f"{PREFIX}_http_requests_total",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_CachedCollector(self))

    def add_database_gauges(self, gauges: DatabaseGauges) -> None:
        """Read ``gauges`` from the database when scraped (cached ``cache_seconds``)."""
        self._database_gauges.append(gauges)

    def add_async_source(self, source: Callable[[], Awaitable[Iterable[Metric]]]) -> None:
        """Read metrics from an async source when scraped (e.g. consumer lag)."""
        self._async_sources.append(source)

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        """The counter ``boxoffice_<name>`` of this registry (created on first use)."""
        existing = self._instruments.get(name)
        if isinstance(existing, Counter):
            return existing
        counter = Counter(f"{PREFIX}_{name}", documentation, labels, registry=self.registry)
        self._instruments[name] = counter
        return counter

    def histogram(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str] = (),
        *,
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> Histogram:
        """The histogram ``boxoffice_<name>`` of this registry (created on first use)."""
        existing = self._instruments.get(name)
        if isinstance(existing, Histogram):
            return existing
        histogram = Histogram(
            f"{PREFIX}_{name}", documentation, labels, buckets=buckets, registry=self.registry
        )
        self._instruments[name] = histogram
        return histogram

    async def refresh(self, *, force: bool = False) -> None:
        """Re-read database gauges and async sources unless the cache is fresh."""
        async with self._refresh_lock:
            now = time.monotonic()
            if (
                not force
                and self._refreshed_at is not None
                and now - self._refreshed_at < self._cache_seconds
            ):
                return
            collected: list[Metric] = []
            if self._database_gauges:
                try:
                    async with self._sessions() as session:
                        for gauges in self._database_gauges:
                            collected.extend(await gauges(session))
                        await session.rollback()
                except Exception as error:
                    # The scrape still answers; the alert on the missing series fires.
                    logger.warning(
                        "reading database gauges failed", extra={"error": type(error).__name__}
                    )
            for source in self._async_sources:
                try:
                    collected.extend(await source())
                except Exception as error:
                    logger.warning(
                        "reading a metrics source failed", extra={"error": type(error).__name__}
                    )
            self._cached = collected
            self._refreshed_at = time.monotonic()

    def cached(self) -> list[Metric]:
        """The metrics read by the last refresh."""
        return self._cached

    async def render(self) -> bytes:
        """The Prometheus text exposition of everything in the registry."""
        await self.refresh()
        return generate_latest(self.registry)


class _CachedCollector(Collector):
    def __init__(self, metrics: ServiceMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self._metrics.cached()

    def describe(self) -> list[Metric]:
        return []


class ChassisCollector(Collector):
    """Counters kept by the consumer and the relay, read when scraped."""

    def __init__(self, consumer: Consumer, relay: OutboxRelay) -> None:
        self._consumer = consumer
        self._relay = relay

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        stats = self._consumer.stats
        handled = CounterMetricFamily(
            f"{PREFIX}_consumer_messages_handled",
            "Messages whose handler ran and committed.",
        )
        handled.add_metric([], stats.handled)
        yield handled
        duplicates = CounterMetricFamily(
            f"{PREFIX}_inbox_duplicates",
            "Messages the inbox dropped because their id was handled before.",
        )
        duplicates.add_metric([], stats.duplicates)
        yield duplicates
        dead = CounterMetricFamily(
            f"{PREFIX}_dlq_messages",
            "Messages sent to a dead-letter topic, by original topic and reason.",
            labels=["topic", "reason"],
        )
        for (topic, reason), count in sorted(stats.dead_letters.items()):
            dead.add_metric([topic, reason], count)
        yield dead
        published = CounterMetricFamily(
            f"{PREFIX}_outbox_published",
            "Outbox rows this process's relay published.",
        )
        published.add_metric([], self._relay.published_count)
        yield published


def outbox_gauges(tables: MessagingTables) -> DatabaseGauges:
    """Backlog and age of the oldest unpublished row of the service's outbox."""
    outbox = tables.outbox

    async def read(session: AsyncSession) -> list[Metric]:
        row = (
            await session.execute(
                select(func.count(), func.min(outbox.c.created_at)).where(
                    outbox.c.published_at.is_(None)
                )
            )
        ).one()
        backlog = GaugeMetricFamily(f"{PREFIX}_outbox_backlog", "Outbox rows not yet published.")
        backlog.add_metric([], row[0])
        oldest = GaugeMetricFamily(
            f"{PREFIX}_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished outbox row (0 when none).",
        )
        oldest.add_metric([], _age_seconds(row[1]))
        return [backlog, oldest]

    return read


def _age_seconds(moment: object) -> float:
    if moment is None:
        return 0.0
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if not isinstance(moment, datetime):
        return 0.0
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return max(0.0, (utcnow() - aware).total_seconds())


def consumer_lag_source(broker: KafkaBroker) -> Callable[[], Awaitable[list[Metric]]]:
    """Per assigned partition: the broker's high watermark minus the consumer position."""

    async def read() -> list[Metric]:
        lag = GaugeMetricFamily(
            f"{PREFIX}_consumer_lag",
            "Messages not yet consumed, by topic and partition (assigned to this process).",
            labels=["topic", "partition"],
        )
        for subscriber in broker.subscribers:
            client = getattr(subscriber, "consumer", None)
            if client is None:
                continue
            for partition in sorted(client.assignment(), key=lambda tp: (tp.topic, tp.partition)):
                highwater = client.highwater(partition)
                if highwater is None:
                    continue
                position = await asyncio.wait_for(client.position(partition), timeout=1.0)
                lag.add_metric(
                    [partition.topic, str(partition.partition)], max(0, highwater - position)
                )
        return [lag]

    return read


class HttpObservabilityMiddleware:
    """Counts, times and traces every HTTP request by route template (not by raw path)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, tracing: Tracing) -> None:
        self.app = app
        self._metrics = metrics
        self._tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method: str = scope.get("method", "GET")
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        headers = (
            {
                key.decode("latin-1"): value.decode("latin-1")
                for key, value in scope.get("headers", [])
                if key in (b"traceparent", b"tracestate")
            }
            if self._tracing.enabled
            else {}
        )
        with self._tracing.server_span(method, scope.get("path", ""), headers) as span:
            try:
                await self.app(scope, receive, send_with_status)
            finally:
                route = route_template(scope)
                self._metrics.http_requests.labels(route, method, str(status)).inc()
                self._metrics.http_duration.labels(route, method).observe(
                    time.perf_counter() - started
                )
                if span is not None:
                    finish_server_span(span, method, route, status)


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/v1/events/{slug}``), or ``unmatched``."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
