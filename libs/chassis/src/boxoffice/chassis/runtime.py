"""What every service process runs: database, broker, outbox relay, HTTP app."""

from __future__ import annotations

import asyncio
import gc
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.specification import Specification, get_asyncapi_html
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tenacity import AsyncRetrying, stop_after_delay, wait_exponential

from boxoffice.chassis import pg_notify
from boxoffice.chassis.asyncapi import service_specification
from boxoffice.chassis.db import create_engine, create_session_factory
from boxoffice.chassis.errors import install_error_handlers
from boxoffice.chassis.inbox import Inbox
from boxoffice.chassis.logs import correlation_scope
from boxoffice.chassis.messaging import Consumer, create_broker, ensure_topics, relay_publisher
from boxoffice.chassis.metrics import (
    CONTENT_TYPE,
    ChassisCollector,
    HttpObservabilityMiddleware,
    ServiceMetrics,
    consumer_lag_source,
    outbox_gauges,
)
from boxoffice.chassis.migrations import upgrade_to_head
from boxoffice.chassis.outbox import RELAY_WAKE_CHANNEL, Outbox, OutboxRelay
from boxoffice.chassis.settings import ServiceSettings
from boxoffice.chassis.tables import MessagingTables
from boxoffice.chassis.tracing import Tracing
from boxoffice.contracts import dlq_topic

logger = logging.getLogger(__name__)

BackgroundTask = Callable[[], Coroutine[Any, Any, None]]


class ServiceRuntime:
    """The plumbing of one service process, started and stopped with the HTTP app.

    Args:
        settings: the service's settings.
        tables: the messaging tables in the service's metadata.
        migrations: the service's Alembic folder.
        consumes: contract topics the service subscribes to (their DLQs are created too).
        produces: contract topics the service publishes to.
    """

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        tables: MessagingTables,
        migrations: Path,
        consumes: Sequence[str] = (),
        produces: Sequence[str] = (),
    ) -> None:
        self.settings = settings
        self.instance_id = f"{settings.service_name}-{uuid.uuid4().hex[:8]}"
        self.engine = create_engine(
            settings.database_url,
            pool_size=settings.database_pool_size,
            echo=settings.database_echo,
        )
        self.sessions = create_session_factory(self.engine)
        self.tracing = Tracing.from_settings(settings)
        self.metrics = ServiceMetrics(self.sessions, cache_seconds=settings.metrics_cache_seconds)
        self.broker = create_broker(settings)
        # Consumed/published message counts, sizes and handler durations per topic.
        self.broker.add_middleware(
            KafkaPrometheusMiddleware(
                registry=self.metrics.registry, app_name=settings.service_name
            )
        )
        self.relay = OutboxRelay(
            self.sessions,
            tables,
            relay_publisher(self.broker),
            poll_interval=settings.outbox_poll_interval_ms / 1000,
            batch_size=settings.outbox_batch_size,
            lease_seconds=settings.outbox_lease_seconds,
            retention=timedelta(hours=settings.outbox_retention_hours),
            holder=self.instance_id,
        )
        self.outbox = Outbox(
            tables,
            topic_name=settings.topic,
            on_commit=self.relay.wake,
            wake_channel=RELAY_WAKE_CHANNEL,
            leads_locally=lambda: self.relay.is_leader,
        )
        self.inbox = Inbox(tables)
        self.consumer = Consumer(
            self.broker, settings, self.sessions, self.inbox, tracing=self.tracing
        )
        self.metrics.registry.register(ChassisCollector(self.consumer, self.relay))
        self.metrics.add_database_gauges(outbox_gauges(tables))
        self.metrics.add_async_source(consumer_lag_source(self.broker))
        self._migrations = migrations
        self._consumes = tuple(consumes)
        self._produces = tuple(produces)
        self._background: list[tuple[str, BackgroundTask]] = []
        # Another replica's commit wakes this relay when it leads (PostgreSQL only).
        self.add_background(
            "outbox-wake",
            pg_notify.listener(self.engine, RELAY_WAKE_CHANNEL, lambda _payload: self.relay.wake()),
        )
        self._tasks: list[asyncio.Task[None]] = []
        self.started = False

    @property
    def consumes(self) -> tuple[str, ...]:
        """The contract topics this service subscribes to."""
        return self._consumes

    @property
    def produces(self) -> tuple[str, ...]:
        """The contract topics this service publishes to."""
        return self._produces

    def topics(self) -> list[str]:
        """Every broker topic this service needs to exist."""
        names = [self.settings.topic(topic) for topic in (*self._consumes, *self._produces)]
        names += [dlq_topic(self.settings.topic(topic)) for topic in self._consumes]
        return names

    def add_background(self, name: str, task: BackgroundTask) -> None:
        """Run ``task`` for the life of the process (e.g. the expiry sweeper)."""
        self._background.append((name, task))

    async def start(self) -> None:
        """Migrate, create topics, connect the broker, start relay and background tasks."""
        await upgrade_to_head(self.engine, self._migrations)
        await ensure_topics(self.settings, self.topics())
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(60), wait=wait_exponential(multiplier=0.1, max=2), reraise=True
        ):
            with attempt:
                await self.broker.start()
        self.relay.start()
        for name, task in self._background:
            self._tasks.append(asyncio.create_task(task(), name=name))
        self.started = True
        logger.info("service started", extra={"instance": self.instance_id})

    async def stop(self) -> None:
        """Stop in reverse order; the relay hands its lease over."""
        self.started = False
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.relay.stop()
        await self.broker.stop()
        await self.engine.dispose()
        self.tracing.shutdown()

    async def check_database(self) -> None:
        """Raise unless the database answers."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def check_broker(self) -> None:
        """Raise unless the broker answers."""
        if not await self.broker.ping(timeout=2.0):
            raise ConnectionError("broker did not answer")

    @asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        """FastAPI lifespan: the runtime lives as long as the HTTP app."""
        await self.start()
        # Everything loaded so far (modules, mappers, the app) lives as long as the
        # process: moved out of the collector's sight, so that collections triggered
        # by request garbage no longer walk it again and again.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        try:
            yield
        finally:
            await self.stop()


GC_THRESHOLDS = (10_000, 20, 20)
"""Young-generation collections every 10,000 net allocations instead of 700: a request
allocates thousands of short-lived objects (ORM states, rows, models), and each
collection of the default setting walks the survivors of the requests in flight."""


def health_router(runtime: ServiceRuntime) -> APIRouter:
    """``/health/live`` (the process answers) and ``/health/ready`` (DB and broker)."""
    router = APIRouter(prefix="/health", tags=["health"])

    @router.get("/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    readiness = {
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "status": {"type": "string", "enum": ["ok", "unavailable"]},
                        "checks": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                    "required": ["status", "checks"],
                }
            }
        }
    }

    @router.get(
        "/ready",
        response_model=None,
        responses={
            200: {"description": "database and broker answer", **readiness},
            503: {"description": "a check fails or the service is starting", **readiness},
        },
    )
    async def ready() -> JSONResponse:
        checks: dict[str, str] = {}
        for name, check in (
            ("database", runtime.check_database),
            ("broker", runtime.check_broker),
        ):
            try:
                await asyncio.wait_for(check(), timeout=3.0)
                checks[name] = "ok"
            except Exception as error:
                checks[name] = f"failing: {type(error).__name__}"
        if not runtime.started:
            checks["runtime"] = "starting"
        healthy = all(value == "ok" for value in checks.values())
        return JSONResponse(
            status_code=200 if healthy else 503,
            content={"status": "ok" if healthy else "unavailable", "checks": checks},
        )

    return router


class CorrelationIdMiddleware:
    """Tags each request's logs with ``X-Request-ID`` (given or generated) and echoes it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = next(
            (
                value.decode("latin-1")[:100]
                for key, value in scope.get("headers", [])
                if key == b"x-request-id"
            ),
            str(uuid.uuid4()),
        )
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        with correlation_scope(request_id):
            await self.app(scope, receive, send_with_id)


def observability_router(
    runtime: ServiceRuntime, specification: Callable[[], Specification]
) -> APIRouter:
    """``/metrics`` (Prometheus text) and the AsyncAPI document at ``/docs/asyncapi``."""
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(await runtime.metrics.render(), media_type=CONTENT_TYPE)

    @router.get("/docs/asyncapi.json", include_in_schema=False)
    async def asyncapi_json() -> JSONResponse:
        return JSONResponse(specification().to_jsonable())

    @router.get("/docs/asyncapi", include_in_schema=False)
    async def asyncapi_html() -> HTMLResponse:
        return HTMLResponse(get_asyncapi_html(specification(), try_it_out_path=None))

    return router


class _LazySpecification:
    """Builds the AsyncAPI specification on first use (most apps never serve it)."""

    def __init__(self, build: Callable[[], Specification]) -> None:
        self._build = build
        self._built: Specification | None = None

    def __call__(self) -> Specification:
        if self._built is None:
            self._built = self._build()
        return self._built


def create_service_app(
    runtime: ServiceRuntime,
    *,
    title: str,
    version: str = "1.0.0",
    routers: Iterable[APIRouter] = (),
    **fastapi_options: Any,
) -> FastAPI:
    """The FastAPI app of a service with health, metrics, AsyncAPI, error format, lifespan.

    ``app.state.asyncapi()`` returns the service's AsyncAPI specification.
    """
    app = FastAPI(
        title=title,
        version=version,
        lifespan=runtime.lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
        **fastapi_options,
    )
    specification = _LazySpecification(
        lambda: service_specification(
            runtime.settings.service_name,
            title=title,
            version=version,
            description=fastapi_options.get("description"),
            consumes=runtime.consumes,
            produces=runtime.produces,
        )
    )
    app.state.settings = runtime.settings
    app.state.runtime = runtime
    app.state.asyncapi = specification
    install_error_handlers(app)
    app.include_router(health_router(runtime))
    app.include_router(observability_router(runtime, specification))
    for router in routers:
        app.include_router(router)
    app.add_middleware(CorrelationIdMiddleware)
    app.add_middleware(
        HttpObservabilityMiddleware, metrics=runtime.metrics, tracing=runtime.tracing
    )
    return app


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Run the app with uvicorn until SIGINT/SIGTERM (graceful shutdown)."""
    import uvicorn

    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
        # The C event loop and HTTP parser (less CPU per request than asyncio's own
        # loop and h11); a missing one fails the start instead of slowing silently.
        loop="uvloop",
        http="httptools",
    )
