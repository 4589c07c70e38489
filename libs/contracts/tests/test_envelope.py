"""The envelope: wrapping, serialization, partition keys."""

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from boxoffice.contracts import (
    ConfirmSeats,
    Envelope,
    EventKeyed,
    Message,
    ReservationKeyed,
    Topic,
    message_types,
)
from boxoffice.contracts.topics import ALL_TOPICS

EVENT_ID = UUID("6f1c2a52-7a3e-4c55-9d0e-0d5b7f1e8a01")
RESERVATION_ID = UUID("0b7e7c1d-3f0a-4a53-8f5d-5e9c2b4d6a02")
INVENTORY_TOPICS = {Topic.INVENTORY_COMMANDS, Topic.INVENTORY_EVENTS}
ALL_MESSAGE_CLASSES = [cls for topic in ALL_TOPICS for cls in message_types(topic).values()]


def _confirm() -> ConfirmSeats:
    return ConfirmSeats(event_id=EVENT_ID, reservation_id=RESERVATION_ID)


def test_wrap_fills_the_context_attributes() -> None:
    before = datetime.now(UTC)

    envelope = Envelope.wrap(_confirm(), source="boxoffice.reservations")

    assert envelope.specversion == "1.0"
    assert envelope.datacontenttype == "application/json"
    assert envelope.type == "boxoffice.inventory.ConfirmSeats.v1"
    assert envelope.source == "boxoffice.reservations"
    assert envelope.id.version == 4
    assert envelope.time.utcoffset() == timedelta(0)
    assert before <= envelope.time <= datetime.now(UTC)
    assert (envelope.subject, envelope.correlationid, envelope.causationid) == (None, None, None)
    assert type(envelope) is Envelope[ConfirmSeats]


def test_wrap_keeps_the_given_attributes() -> None:
    message_id, cause = uuid4(), uuid4()
    time = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)

    envelope = Envelope.wrap(
        _confirm(),
        source="boxoffice.reservations",
        subject=str(RESERVATION_ID),
        correlationid="req-42",
        causationid=cause,
        id=message_id,
        time=time,
    )

    assert (envelope.id, envelope.time, envelope.causationid) == (message_id, time, cause)
    assert (envelope.subject, envelope.correlationid) == (str(RESERVATION_ID), "req-42")


def test_wraps_are_distinct_messages() -> None:
    first = Envelope.wrap(_confirm(), source="boxoffice.reservations")
    second = Envelope.wrap(_confirm(), source="boxoffice.reservations")

    assert first.id != second.id


def test_to_json_is_structured_cloudevent_without_unset_attributes() -> None:
    envelope = Envelope.wrap(
        _confirm(), source="boxoffice.reservations", correlationid=str(RESERVATION_ID)
    )

    document = json.loads(envelope.to_json())

    assert document == {
        "specversion": "1.0",
        "id": str(envelope.id),
        "source": "boxoffice.reservations",
        "type": "boxoffice.inventory.ConfirmSeats.v1",
        "time": envelope.time.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "correlationid": str(RESERVATION_ID),
        "data": {"event_id": str(EVENT_ID), "reservation_id": str(RESERVATION_ID)},
    }


def test_type_must_name_the_data() -> None:
    with pytest.raises(ValidationError, match="does not match"):
        Envelope[ConfirmSeats](
            id=uuid4(),
            source="boxoffice.reservations",
            type="boxoffice.inventory.HoldSeats.v1",
            time=datetime.now(UTC),
            data=_confirm(),
        )


def test_naive_time_is_rejected() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Envelope.wrap(_confirm(), source="boxoffice.reservations", time=datetime(2030, 1, 1))


def test_envelope_and_message_are_immutable() -> None:
    envelope = Envelope.wrap(_confirm(), source="boxoffice.reservations")

    with pytest.raises(ValidationError, match="frozen"):
        envelope.source = "elsewhere"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        envelope.data.event_id = uuid4()  # type: ignore[misc]


@pytest.mark.parametrize("message_cls", ALL_MESSAGE_CLASSES, ids=lambda cls: cls.__name__)
def test_partition_key_is_event_id_on_inventory_topics_else_reservation_id(
    message_cls: type[Message], examples: Mapping[type[Message], Message]
) -> None:
    message = examples[message_cls]
    envelope = Envelope.wrap(message, source="test")

    if message_cls.topic in INVENTORY_TOPICS:
        assert isinstance(message, EventKeyed)
        expected = str(message.event_id)
    else:
        assert isinstance(message, ReservationKeyed)
        expected = str(message.reservation_id)
    assert message.partition_key() == expected
    assert envelope.partition_key() == expected
