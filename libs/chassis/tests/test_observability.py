"""Metrics, tracing and AsyncAPI of the chassis, on an in-process app."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from boxoffice.chassis import asyncapi
from boxoffice.chassis.db import new_metadata
from boxoffice.chassis.runtime import ServiceRuntime, create_service_app
from boxoffice.chassis.tables import MessagingTables, define_messaging_tables
from boxoffice.contracts import Envelope, Topic
from boxoffice.contracts.inventory import SeatsReleased
from libs.chassis.tests.support import make_settings


@dataclass
class App:
    """A chassis app with one route that writes an outbox row, driven over ASGI."""

    app: FastAPI
    runtime: ServiceRuntime
    tables: MessagingTables
    client: httpx.AsyncClient

    async def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """``/metrics``, parsed: value by (sample name, sorted labels)."""
        response = await self.client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }


def _released() -> Envelope[SeatsReleased]:
    return Envelope.wrap(
        SeatsReleased(event_id=uuid.uuid4(), reservation_id=uuid.uuid4(), reason="test"),
        source="chassis-test",
        correlationid="order-42",
    )


@pytest.fixture
async def chassis_app(sqlite_url: str) -> AsyncIterator[App]:
    metadata = new_metadata()
    tables = define_messaging_tables(metadata)
    settings = make_settings(sqlite_url, "127.0.0.1:1", "").model_copy(
        update={"metrics_cache_seconds": 0.0}
    )
    runtime = ServiceRuntime(
        settings,
        tables=tables,
        migrations=Path("unused"),
        consumes=[Topic.INVENTORY_COMMANDS],
        produces=[Topic.INVENTORY_EVENTS],
    )
    async with runtime.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    router = APIRouter()

    @router.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @router.post("/releases")
    async def release(request: Request) -> dict[str, str]:
        async with runtime.sessions.begin() as session:
            await runtime.outbox.add(session, _released())
        return {"status": "queued"}

    app = create_service_app(runtime, title="chassis test", routers=[router])
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    try:
        yield App(app, runtime, tables, client)
    finally:
        await client.aclose()
        await runtime.engine.dispose()


async def _outbox_headers(app: App) -> list[dict[str, str]]:
    outbox = app.tables.outbox
    async with app.runtime.sessions() as session:
        rows = (await session.execute(select(outbox.c.headers).order_by(outbox.c.id))).all()
    return [dict(row.headers) for row in rows]


async def test_http_requests_are_counted_and_timed_by_route_template(chassis_app: App) -> None:
    client = chassis_app.client
    assert (await client.get("/items/1")).status_code == 200
    assert (await client.get("/items/2")).status_code == 200
    assert (await client.get("/items/not-a-number")).status_code == 422
    assert (await client.get("/nowhere/7")).status_code == 404

    metrics = await chassis_app.scrape()

    def requests(route: str, status: str) -> float:
        labels = (("method", "GET"), ("route", route), ("status", status))
        return metrics.get(("boxoffice_http_requests_total", labels), 0.0)

    assert requests("/items/{item_id}", "200") == 2
    assert requests("/items/{item_id}", "422") == 1
    assert requests("unmatched", "404") == 1
    assert not any("/items/1" in str(key) for key in metrics)  # templates, never raw paths
    count = metrics[
        (
            "boxoffice_http_request_duration_seconds_count",
            (("method", "GET"), ("route", "/items/{item_id}")),
        )
    ]
    assert count == 3


async def test_outbox_backlog_and_inbox_duplicates_are_read_when_scraped(
    chassis_app: App,
) -> None:
    before = await chassis_app.scrape()
    assert before[("boxoffice_outbox_backlog", ())] == 0
    assert before[("boxoffice_outbox_oldest_unpublished_age_seconds", ())] == 0
    assert before[("boxoffice_inbox_duplicates_total", ())] == 0

    await chassis_app.client.post("/releases")
    await chassis_app.client.post("/releases")
    envelope = _released()

    async def handle(_envelope: object, _session: object) -> None:
        return None

    runtime = chassis_app.runtime
    await runtime.consumer.apply("inventory.events", envelope, handle)
    await runtime.consumer.apply("inventory.events", envelope, handle)  # redelivered

    after = await chassis_app.scrape()
    assert after[("boxoffice_outbox_backlog", ())] == 2
    assert after[("boxoffice_outbox_oldest_unpublished_age_seconds", ())] > 0
    assert after[("boxoffice_inbox_duplicates_total", ())] == 1
    assert after[("boxoffice_consumer_messages_handled_total", ())] == 1


async def test_each_app_has_a_registry_of_its_own(chassis_app: App, tmp_path: Path) -> None:
    await chassis_app.client.get("/items/1")
    other = create_service_app(
        ServiceRuntime(
            make_settings(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}", "127.0.0.1:1", ""),
            tables=define_messaging_tables(new_metadata()),
            migrations=Path("unused"),
        ),
        title="other",
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=other), base_url="http://other"
    ) as client:
        text = (await client.get("/metrics")).text
    assert "/items/{item_id}" not in text
    await other.state.runtime.engine.dispose()


async def test_the_request_span_s_context_is_stored_in_the_outbox_row(chassis_app: App) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    chassis_app.runtime.tracing.configure(provider)
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"

    response = await chassis_app.client.post(
        "/releases", headers={"traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01"}
    )

    assert response.status_code == 200
    (span,) = exporter.get_finished_spans()
    assert span.kind is SpanKind.SERVER
    assert span.name == "POST /releases"
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 200
    assert format(span.context.trace_id, "032x") == caller_trace  # the caller's trace goes on
    (headers,) = await _outbox_headers(chassis_app)
    version, trace_id, span_id, _flags = headers["traceparent"].split("-")
    assert (version, trace_id, span_id) == (
        "00",
        caller_trace,
        format(span.context.span_id, "016x"),
    )


async def test_without_tracing_no_trace_headers_are_written(chassis_app: App) -> None:
    assert not chassis_app.runtime.tracing.enabled
    await chassis_app.client.post(
        "/releases",
        headers={"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
    )
    (headers,) = await _outbox_headers(chassis_app)
    assert "traceparent" not in headers
    assert headers["ce_type"] == SeatsReleased.message_type


async def test_the_asyncapi_document_is_served(chassis_app: App) -> None:
    document = (await chassis_app.client.get("/docs/asyncapi.json")).json()
    page = await chassis_app.client.get("/docs/asyncapi")

    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"] == "chassis test"
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {"inventory.commands", "inventory.commands.dlq", "inventory.events"}
    assert "Envelope_HoldSeats_" in document["components"]["schemas"]
    assert page.status_code == 200
    assert "AsyncAPI" in page.text
    assert (await chassis_app.client.get("/openapi.json")).status_code == 200


def test_committed_asyncapi_documents_are_up_to_date(tmp_path: Path) -> None:
    assert asyncapi.main([str(tmp_path)]) == 0

    for name in ("inventory.json", "reservations.json", "notifications.json"):
        committed = asyncapi.DEFAULT_DIR / name
        assert committed.read_text(encoding="utf-8") == (tmp_path / name).read_text(
            encoding="utf-8"
        ), f"{committed} is stale: run python -m boxoffice.chassis.asyncapi"
    assert asyncapi.main(["--check", str(asyncapi.DEFAULT_DIR)]) == 0


def test_check_reports_a_stale_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert asyncapi.main([str(tmp_path)]) == 0
    (tmp_path / "inventory.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "notifications.json").unlink()

    assert asyncapi.main(["--check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "stale: inventory.json" in err
    assert "missing: notifications.json" in err
