"""Unit tests of the chassis pieces that need no broker."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from boxoffice.chassis import auth
from boxoffice.chassis.auth import CurrentPrincipal, decode_token
from boxoffice.chassis.db import create_engine, create_session_factory
from boxoffice.chassis.errors import ApiError, install_error_handlers
from boxoffice.chassis.inbox import Inbox
from boxoffice.chassis.logs import configure_logging, correlation_scope, redact
from boxoffice.chassis.outbox import Outbox, OutboxRelay, OutgoingMessage
from boxoffice.chassis.settings import DEVELOPMENT_JWT_SECRET, Environment, ServiceSettings
from boxoffice.chassis.ticket_codes import (
    InvalidTicketCode,
    TicketCode,
    sign_ticket_code,
    verify_ticket_code,
)
from boxoffice.contracts import Envelope
from boxoffice.contracts.inventory import SeatsReleased
from libs.chassis.tests.support import create_schema, eventually

SECRET = "unit-test-secret-of-at-least-32-bytes"


def _envelope() -> Envelope[SeatsReleased]:
    return Envelope.wrap(
        SeatsReleased(event_id=uuid.uuid4(), reservation_id=uuid.uuid4(), reason="test"),
        source="chassis-test",
        correlationid="corr-1",
    )


def test_settings_refuse_a_missing_secret_outside_development() -> None:
    with pytest.raises(ValidationError, match="jwt_secret must be set"):
        ServiceSettings(environment=Environment.PRODUCTION)
    development = ServiceSettings(environment=Environment.DEVELOPMENT)
    assert development.jwt_secret_value == DEVELOPMENT_JWT_SECRET
    with pytest.raises(ValidationError, match="development jwt_secret"):
        ServiceSettings(environment=Environment.PRODUCTION, jwt_secret=DEVELOPMENT_JWT_SECRET)


def test_settings_read_the_environment_with_a_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    class Settings(ServiceSettings):
        model_config = ServiceSettings.model_config | {"env_prefix": "BOXOFFICE_DEMO_"}

    monkeypatch.setenv("BOXOFFICE_DEMO_ENVIRONMENT", "test")
    monkeypatch.setenv("BOXOFFICE_DEMO_JWT_SECRET", "s3")
    monkeypatch.setenv("BOXOFFICE_DEMO_KAFKA_PARTITIONS", "12")
    settings = Settings()
    assert settings.kafka_partitions == 12
    assert settings.jwt_secret_value == "s3"


def _token(**claims: Any) -> str:
    payload = {
        "sub": "u1",
        "org": "acme",
        "roles": ["organizer"],
        "exp": datetime.now(UTC) + timedelta(minutes=5),
        **claims,
    }
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, SECRET, "HS256")


def test_tokens_are_verified() -> None:
    principal = decode_token(_token(), secret=SECRET)
    assert (principal.sub, principal.org, principal.roles) == ("u1", "acme", ("organizer",))
    for bad in (
        _token(exp=datetime.now(UTC) - timedelta(seconds=1)),
        _token(org=None),
        _token(roles="admin"),
        jwt.encode({"sub": "u1", "org": "acme", "exp": 9999999999}, "x" * 32, "HS256"),
        "not-a-token",
    ):
        with pytest.raises(ApiError) as error:
            decode_token(bad, secret=SECRET)
        assert error.value.status_code == 401


def test_a_verified_token_is_remembered_until_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [time.time()]
    monkeypatch.setattr(auth, "_verified", auth.verified_tokens(timer=lambda: now[0]))
    verifications = 0
    verify = auth._verify

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal verifications
        verifications += 1
        return verify(*args, **kwargs)

    monkeypatch.setattr(auth, "_verify", counting)
    token = _token(exp=datetime.now(UTC) + timedelta(seconds=60))
    first = decode_token(token, secret=SECRET)
    assert decode_token(token, secret=SECRET) == first
    assert verifications == 1
    with pytest.raises(ApiError):  # the same token under another secret is not trusted
        decode_token(token, secret="another-secret-that-is-long-enough-for-hs256")
    now[0] += 61  # past its exp: verified again, not answered from memory
    decode_token(token, secret=SECRET)
    assert verifications == 3


class _Body(BaseModel):
    quantity: int


def _app() -> FastAPI:
    app = FastAPI()
    app.state.settings = ServiceSettings(environment=Environment.TEST, jwt_secret=SECRET)
    install_error_handlers(app)

    @app.post("/things")
    async def create(body: _Body, principal: CurrentPrincipal) -> dict[str, Any]:
        if body.quantity > 10:
            raise ApiError(409, "TOO_MANY", "too many", {"asked": body.quantity})
        return {"org": principal.org, "quantity": body.quantity}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unexpected")

    return app


async def test_errors_have_one_json_shape() -> None:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    auth = {"Authorization": f"Bearer {_token()}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        ok = await client.post("/things", json={"quantity": 2}, headers=auth)
        assert ok.json() == {"org": "acme", "quantity": 2}
        cases = [
            (await client.post("/things", json={"quantity": 2}), 401, "UNAUTHORIZED"),
            (await client.post("/things", content=b"{oops", headers=auth), 422, "VALIDATION_ERROR"),
            (
                await client.post("/things", json={"quantity": "x"}, headers=auth),
                422,
                "VALIDATION_ERROR",
            ),
            (await client.post("/things", json={"quantity": 11}, headers=auth), 409, "TOO_MANY"),
            (await client.get("/nowhere"), 404, "NOT_FOUND"),
            (await client.get("/things"), 405, "METHOD_NOT_ALLOWED"),
            (await client.get("/boom"), 500, "INTERNAL_ERROR"),
        ]
    for response, status, code in cases:
        assert response.status_code == status
        body = response.json()
        assert body["error"]["code"] == code
        assert set(body["error"]) == {"code", "message", "details"}


def test_log_lines_are_json_with_correlation_and_no_email(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("demo", level="INFO", json_lines=True)
    with correlation_scope("req-42"):
        logging.getLogger("demo").info("mail to %s failed", "jane.doe@example.org")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    import json

    record = json.loads(line)
    assert record["correlation_id"] == "req-42"
    assert record["service"] == "demo"
    assert "jane.doe@example.org" not in line
    assert redact("write to a.b+c@d.example.com") == "write to <email>"


async def test_inbox_claims_a_message_once(database_url: str) -> None:
    engine = create_engine(database_url)
    tables = await create_schema(engine)
    sessions = create_session_factory(engine)
    inbox = Inbox(tables)
    envelope = _envelope()
    claims = []
    for _ in range(2):
        async with sessions.begin() as session:
            claims.append(await inbox.claim(session, envelope, "t"))
    assert claims == [True, False]
    await engine.dispose()


async def test_rolled_back_rows_never_reach_the_relay_and_commits_wake_it(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    tables = await create_schema(engine)
    sessions = create_session_factory(engine)
    published: list[OutgoingMessage] = []

    async def publish(message: OutgoingMessage) -> None:
        published.append(message)

    # A poll interval far longer than the test: only the commit's wake-up can publish.
    relay = OutboxRelay(sessions, tables, publish, poll_interval=3600, lease_seconds=30)
    outbox = Outbox(tables, topic_name=lambda name: f"{name}-x", on_commit=relay.wake)
    relay.start()
    try:
        await relay.wait_until_leader()
        kept, dropped = _envelope(), _envelope()

        async def add_then_fail() -> None:
            async with sessions.begin() as session:
                await outbox.add(session, dropped)
                raise ZeroDivisionError

        with pytest.raises(ZeroDivisionError):
            await add_then_fail()
        async with sessions.begin() as session:
            await outbox.add(session, kept)
        await eventually(lambda: len(published) == 1, within=10, what="woken relay published")
        [message] = published
        assert message.message_id == str(kept.id)
        assert message.topic == "inventory.events-x"
        assert message.partition_key == str(kept.data.event_id)
        assert message.headers["ce_type"] == kept.type
        assert message.headers["correlation_id"] == "corr-1"
        async with sessions() as session:
            rows = (await session.execute(select(tables.outbox.c.message_id))).scalars().all()
        assert rows == [str(kept.id)]
    finally:
        await relay.stop()
        await engine.dispose()


async def test_one_relay_leads_and_a_standby_takes_over_when_it_stops(database_url: str) -> None:
    engine = create_engine(database_url)
    tables = await create_schema(engine)
    sessions = create_session_factory(engine)

    async def publish(_message: OutgoingMessage) -> None:
        return None

    first = OutboxRelay(sessions, tables, publish, poll_interval=0.01, lease_seconds=30)
    second = OutboxRelay(sessions, tables, publish, poll_interval=0.01, lease_seconds=30)
    first.start()
    await first.wait_until_leader()
    second.start()
    try:
        # The lease lasts 30 s: the standby can only lead once the leader hands it over.
        await eventually(lambda: not second.is_leader, within=1)
        assert first.is_leader
        await first.stop()
        await asyncio.wait_for(second.wait_until_leader(), timeout=10)
    finally:
        await second.stop()
        await engine.dispose()


def test_ticket_codes_verify_only_with_the_key_and_unaltered() -> None:
    code = TicketCode(uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    signed = sign_ticket_code("k" * 32, code)
    assert verify_ticket_code("k" * 32, signed) == code
    for key, text in (("x" * 32, signed), ("k" * 32, signed[:-2] + "AA"), ("k" * 32, "junk")):
        with pytest.raises(InvalidTicketCode):
            verify_ticket_code(key, text)
