"""OpenTelemetry tracing across HTTP → outbox → Kafka → consumer.

- an HTTP request runs in a SERVER span (continuing a W3C ``traceparent`` the caller
  sent);
- ``Outbox.add`` stores the current trace context (``traceparent``/``tracestate``) in the
  row's headers, and the relay sends the row's headers as Kafka headers;
- the consumer runs each message's handler in a CONSUMER span whose parent is the
  context in the message's headers, so the outbox rows that handler writes carry it on.

One trace thus covers create → hold (inventory) → outcome → ``PENDING`` (reservations).

Tracing is off unless an exporter is configured (``otlp_endpoint`` setting, or the
standard ``OTEL_EXPORTER_OTLP_ENDPOINT``) or a test hands in a tracer provider: then
no span is started and the per-message cost is one attribute check.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from opentelemetry.trace import Span

    from boxoffice.chassis.settings import ServiceSettings
    from boxoffice.contracts import Envelope, Message

TRACE_HEADERS = ("traceparent", "tracestate")
_PROPAGATOR = TraceContextTextMapPropagator()
_NO_SPAN: AbstractContextManager[None] = contextlib.nullcontext()


def trace_headers() -> dict[str, str]:
    """W3C trace context of the current span, for an outbox row; empty without one."""
    if not trace.get_current_span().get_span_context().is_valid:
        return {}
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


class Tracing:
    """The tracer of one service process (off until a provider is configured).

    Args:
        service_name: ``service.name`` of the spans.
        provider: the tracer provider; None = tracing off.
    """

    def __init__(self, service_name: str, provider: TracerProvider | None = None) -> None:
        self.service_name = service_name
        self._provider: TracerProvider | None = None
        self._tracer: Tracer = trace.NoOpTracer()
        self.enabled = False
        if provider is not None:
            self.configure(provider)

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Tracing:
        """Export over OTLP/HTTP if ``otlp_endpoint`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set."""
        endpoint = settings.otlp_endpoint
        if not endpoint and not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            return cls(settings.service_name)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        exporter = (
            OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")
            if endpoint
            else OTLPSpanExporter()  # the standard OTEL_EXPORTER_OTLP_* variables
        )
        provider = SdkTracerProvider(
            resource=Resource.create({"service.name": settings.service_name})
        )
        provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(settings.service_name, provider)

    def configure(self, provider: TracerProvider) -> None:
        """Trace with ``provider`` from now on (tests hand in an in-memory one)."""
        self._provider = provider
        self._tracer = provider.get_tracer("boxoffice.chassis")
        self.enabled = True

    def shutdown(self) -> None:
        """Flush and stop the exporter, if any."""
        shutdown = getattr(self._provider, "shutdown", None)
        if callable(shutdown):
            shutdown()

    def consume_span(
        self, topic: str, envelope: Envelope[Message], headers: Mapping[str, str]
    ) -> AbstractContextManager[object]:
        """A CONSUMER span for one message, child of the context in its headers."""
        if not self.enabled:
            return _NO_SPAN
        return self._consume_span(topic, envelope, headers)

    @contextlib.contextmanager
    def _consume_span(
        self, topic: str, envelope: Envelope[Message], headers: Mapping[str, str]
    ) -> Iterator[Span]:
        parent = _PROPAGATOR.extract({k: headers[k] for k in TRACE_HEADERS if k in headers})
        with self._tracer.start_as_current_span(
            f"{topic} process",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": topic,
                "messaging.message.id": str(envelope.id),
                "cloudevents.event_type": envelope.type,
                "service.name": self.service_name,
            },
        ) as span:
            yield span

    @contextlib.contextmanager
    def server_span(
        self, method: str, path: str, headers: Mapping[str, str]
    ) -> Iterator[Span | None]:
        """A SERVER span for one HTTP request (continuing the caller's ``traceparent``)."""
        if not self.enabled:
            yield None
            return
        parent = _PROPAGATOR.extract({k: headers[k] for k in TRACE_HEADERS if k in headers})
        token = otel_context.attach(parent)
        try:
            with self._tracer.start_as_current_span(
                method,
                kind=SpanKind.SERVER,
                attributes={"http.request.method": method, "url.path": path},
            ) as span:
                yield span
        finally:
            otel_context.detach(token)


def finish_server_span(span: Span, method: str, route: str, status: int) -> None:
    """Name the span after the route template and record the status code."""
    span.update_name(f"{method} {route}")
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
