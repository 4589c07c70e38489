"""``python -m boxoffice.ops dlq``: a poison message is listed, then replayed once fixed."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from boxoffice.chassis.db import create_engine, create_session_factory
from boxoffice.chassis.inbox import Inbox
from boxoffice.chassis.messaging import Consumer, create_broker, ensure_topics
from boxoffice.contracts import Envelope, Message, Topic, dlq_topic
from boxoffice.contracts.inventory import SeatsReleased
from boxoffice.ops import dlq
from boxoffice.ops.__main__ import main as ops_main
from libs.chassis.tests.support import create_schema, eventually, make_settings


def _released(reason: str) -> Envelope[SeatsReleased]:
    return Envelope.wrap(
        SeatsReleased(event_id=uuid.uuid4(), reservation_id=uuid.uuid4(), reason=reason),
        source="ops-test",
        correlationid=f"corr-{reason}",
    )


async def _ops(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    # The command runs its own event loop, as from a shell.
    code = await asyncio.to_thread(ops_main, list(argv))
    return code, capsys.readouterr().out


async def test_a_dead_letter_is_listed_and_replayed_to_its_topic_after_the_fix(
    sqlite_url: str,
    kafka_bootstrap: str,
    topic_suffix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings(
        sqlite_url, kafka_bootstrap, f"{topic_suffix}-ops{uuid.uuid4().hex[:6]}"
    )
    topic = settings.topic(Topic.INVENTORY_EVENTS)
    dead_letters = dlq_topic(topic)
    engine = create_engine(sqlite_url)
    tables = await create_schema(engine)
    await ensure_topics(settings, [topic, dead_letters])
    fixed = False
    handled: list[str] = []

    async def handle(envelope: Envelope[Message], _session: object) -> None:
        assert isinstance(envelope.data, SeatsReleased)
        if envelope.data.reason == "poison" and not fixed:
            raise RuntimeError("cannot release: bug 1234")
        handled.append(envelope.data.reason)

    broker = create_broker(settings)
    consumer = Consumer(broker, settings, create_session_factory(engine), Inbox(tables))
    consumer.subscribe(Topic.INVENTORY_EVENTS, handle, group="ops-test")
    await broker.start()
    poison = _released("poison")
    try:
        await broker.publish(b"\xff not json", topic, key=b"garbage-key")
        await broker.publish(
            poison.to_json(),
            topic,
            key=b"event-7",
            headers={"ce_id": str(poison.id), "correlation_id": "corr-poison"},
        )
        await eventually(
            lambda: consumer.stats.dead_lettered == 2, within=30, what="both dead-lettered"
        )

        code, listing = await _ops(
            capsys, "dlq", "list", "--bootstrap", kafka_bootstrap, "--topic", dead_letters,
            "--idle", "1.5", "--json",
        )  # fmt: skip
        assert code == 0
        letters = [json.loads(line) for line in listing.splitlines()]
        assert len(letters) == 2
        by_reason = {letter["dlq"]["reason"]: letter for letter in letters}
        failed = by_reason["failed"]
        assert failed["key"] == "event-7"
        assert failed["dlq"]["error-type"] == "RuntimeError"
        assert "bug 1234" in failed["dlq"]["error"]
        assert failed["dlq"]["original-topic"] == topic
        assert int(failed["dlq"]["attempts"]) == settings.consumer_max_attempts
        assert failed["body"].startswith('{"specversion":"1.0"')
        assert by_reason["invalid"]["key"] == "garbage-key"
        assert by_reason["invalid"]["dlq"]["error-type"] in {"ValidationError", "ValueError"}

        code, text = await _ops(
            capsys, "dlq", "list", "--bootstrap", kafka_bootstrap, "--topic", dead_letters,
            "--idle", "1.5",
        )  # fmt: skip
        assert code == 0
        assert "reason failed  error-type RuntimeError" in text
        assert f"original {topic} partition" in text
        assert text.rstrip().endswith(f"2 dead letter(s) in {dead_letters}")

        fixed = True  # the fix is deployed: replay the failed one only
        selector = f"{failed['partition']}:{failed['offset']}"
        code, replayed = await _ops(
            capsys, "dlq", "replay", "--bootstrap", kafka_bootstrap, "--topic", dead_letters,
            "--idle", "1.5", "--offset", selector,
        )  # fmt: skip
        assert code == 0, replayed
        assert f"-> {topic}" in replayed
        await eventually(lambda: handled == ["poison"], within=30, what="the replay handled")
        assert consumer.stats.dead_lettered == 2
    finally:
        await broker.stop()
        await engine.dispose()


async def test_replay_keeps_key_and_headers_but_not_the_dlq_ones() -> None:
    letter = dlq.DeadLetter(
        topic="inventory.events.dlq",
        partition=2,
        offset=9,
        key=b"event-7",
        value=b"{}",
        headers=(
            ("ce_id", b"abc"),
            ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            ("x-dlq-reason", b"failed"),
            ("x-dlq-original-topic", b"inventory.events-suffix"),
        ),
    )

    assert letter.original_topic == "inventory.events-suffix"
    assert letter.replay_headers() == [
        ("ce_id", b"abc"),
        ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ("x-replayed-from", b"inventory.events.dlq:2:9"),
    ]


def test_a_bare_offset_found_in_two_partitions_must_name_the_partition() -> None:
    letters = [dlq.DeadLetter("t.dlq", partition, 0, None, b"", ()) for partition in (0, 1)]

    with pytest.raises(ValueError, match="several partitions"):
        dlq.select_letters(letters, ["0"], None)
    assert dlq.select_letters(letters, ["1:0"], None) == [letters[1]]
    assert dlq.select_letters(letters, ["0"], 1) == [letters[1]]
    with pytest.raises(ValueError, match="no dead letter"):
        dlq.select_letters(letters, ["5"], None)


def test_only_dead_letter_topics_are_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    assert dlq.main(["list", "--topic", "inventory.events"]) == 2
    assert "not a dead-letter topic" in capsys.readouterr().err
