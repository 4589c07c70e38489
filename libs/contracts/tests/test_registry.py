"""Topics, their closed sets of message types, and parsing."""

import json
from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import ValidationError

from boxoffice.contracts import (
    ALL_TOPICS,
    TOPIC_UNIONS,
    Envelope,
    HoldSeats,
    Message,
    Topic,
    UnknownMessageType,
    dlq_topic,
    message_types,
    parse_envelope,
)

MESSAGE_TYPE_NAME = (
    r"^boxoffice\.(inventory|reservations|notifications|payments)\.[A-Z][A-Za-z]+\.v[1-9]\d*$"
)
TOPIC_AND_CLASS = [
    pytest.param(topic, cls, id=message_type)
    for topic in ALL_TOPICS
    for message_type, cls in message_types(topic).items()
]


def _declared_message_classes() -> set[type[Message]]:
    found: set[type[Message]] = set()
    pending = Message.__subclasses__()
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if "message_type" in vars(cls):
            found.add(cls)
    return found


def _hold_seats_json(examples: Mapping[type[Message], Message]) -> dict[str, Any]:
    envelope = Envelope.wrap(examples[HoldSeats], source="boxoffice.reservations")
    document: dict[str, Any] = json.loads(envelope.to_json())
    return document


def test_topics() -> None:
    assert [str(topic) for topic in ALL_TOPICS] == [
        "inventory.commands",
        "inventory.events",
        "reservations.commands",
        "reservations.events",
        "notifications.commands",
        "notifications.events",
        "payments.events",
    ]
    assert set(TOPIC_UNIONS) == set(ALL_TOPICS)
    assert dlq_topic(Topic.INVENTORY_COMMANDS) == "inventory.commands.dlq"


def test_every_message_class_is_registered_on_its_topic_only() -> None:
    registered = {cls: topic for topic in ALL_TOPICS for cls in message_types(topic).values()}
    declared = _declared_message_classes()

    assert set(registered) == declared
    assert all(cls.topic == topic for cls, topic in registered.items())
    names = [cls.message_type for cls in declared]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(("topic", "message_cls"), TOPIC_AND_CLASS)
def test_message_type_names(topic: Topic, message_cls: type[Message]) -> None:
    area = topic.split(".")[0]

    assert message_cls.message_type == f"boxoffice.{area}.{message_cls.__name__}.v1"
    assert message_types(topic)[message_cls.message_type] is message_cls


def test_examples_cover_every_message_type(examples: Mapping[type[Message], Message]) -> None:
    assert set(examples) == {cls for topic in ALL_TOPICS for cls in message_types(topic).values()}


@pytest.mark.parametrize(("topic", "message_cls"), TOPIC_AND_CLASS)
def test_round_trip(
    topic: Topic, message_cls: type[Message], examples: Mapping[type[Message], Message]
) -> None:
    sent = Envelope.wrap(examples[message_cls], source="test", correlationid="corr-1")

    received = parse_envelope(topic, sent.to_json())

    assert type(received.data) is message_cls
    assert received == sent
    assert received.to_json() == sent.to_json()
    assert parse_envelope(str(topic), sent.to_json().decode()) == sent


def test_consumers_dispatch_on_the_data_class(examples: Mapping[type[Message], Message]) -> None:
    raw = Envelope.wrap(examples[HoldSeats], source="test").to_json()

    match parse_envelope(Topic.INVENTORY_COMMANDS, raw).data:
        case HoldSeats(lines=lines):
            held = sum(line.quantity for line in lines)
        case _:
            held = 0

    assert held == 3


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"\xff\x00 not json", id="garbage"),
        pytest.param(b"", id="empty"),
        pytest.param(b"[1, 2]", id="array"),
        pytest.param(b'{"specversion": "1.0"}', id="no-type"),
        pytest.param(b'{"type": 42}', id="type-not-a-string"),
        pytest.param(b'{"type": "boxoffice.inventory.HoldSeats.v1"}', id="missing-attributes"),
    ],
)
def test_malformed_input_raises_validation_error(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        parse_envelope(Topic.INVENTORY_COMMANDS, raw)


def test_invalid_data_raises_validation_error(examples: Mapping[type[Message], Message]) -> None:
    document = _hold_seats_json(examples)
    document["data"]["lines"] = []

    with pytest.raises(ValidationError, match="lines"):
        parse_envelope(Topic.INVENTORY_COMMANDS, json.dumps(document))


def test_unknown_type_raises_unknown_message_type(
    examples: Mapping[type[Message], Message],
) -> None:
    document = _hold_seats_json(examples)
    document["type"] = "boxoffice.inventory.HoldSeats.v2"

    with pytest.raises(UnknownMessageType) as caught:
        parse_envelope(Topic.INVENTORY_COMMANDS, json.dumps(document))

    assert isinstance(caught.value, ValueError)
    assert caught.value.topic == Topic.INVENTORY_COMMANDS
    assert caught.value.message_type == "boxoffice.inventory.HoldSeats.v2"


def test_type_of_another_topic_raises_unknown_message_type(
    examples: Mapping[type[Message], Message],
) -> None:
    raw = Envelope.wrap(examples[HoldSeats], source="test").to_json()

    with pytest.raises(UnknownMessageType, match=r"inventory\.events"):
        parse_envelope(Topic.INVENTORY_EVENTS, raw)


def test_unknown_topic_raises_key_error() -> None:
    with pytest.raises(KeyError):
        parse_envelope("inventory.commands.dlq", b"{}")
    with pytest.raises(KeyError):
        message_types("nope")


def test_unknown_fields_are_ignored(examples: Mapping[type[Message], Message]) -> None:
    sent = Envelope.wrap(examples[HoldSeats], source="test")
    document = json.loads(sent.to_json())
    document["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    document["data"]["priority"] = "high"
    document["data"]["lines"][0]["seat_map"] = {"row": "A"}

    received = parse_envelope(Topic.INVENTORY_COMMANDS, json.dumps(document))

    assert received == sent
