"""The closed set of message types of each topic, and parsing of received messages."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, get_args

from pydantic import TypeAdapter, ValidationError

from boxoffice.contracts.envelope import Envelope, Message
from boxoffice.contracts.inventory import InventoryCommand, InventoryEvent
from boxoffice.contracts.notifications import NotificationCommand, NotificationEvent
from boxoffice.contracts.payments import PaymentEvent
from boxoffice.contracts.reservations import ReservationCommand, ReservationEvent
from boxoffice.contracts.topics import Topic

if TYPE_CHECKING:
    # Only for type checking: typing_extensions is pydantic's dependency, not ours.
    from typing_extensions import TypeForm

TOPIC_UNIONS: Final[Mapping[Topic, TypeForm[Envelope[Message]]]] = MappingProxyType(
    {
        Topic.INVENTORY_COMMANDS: InventoryCommand,
        Topic.INVENTORY_EVENTS: InventoryEvent,
        Topic.RESERVATIONS_COMMANDS: ReservationCommand,
        Topic.RESERVATIONS_EVENTS: ReservationEvent,
        Topic.NOTIFICATIONS_COMMANDS: NotificationCommand,
        Topic.NOTIFICATIONS_EVENTS: NotificationEvent,
        Topic.PAYMENTS_EVENTS: PaymentEvent,
    }
)
"""The discriminated envelope union of each topic."""


class UnknownMessageType(ValueError):
    """A well-formed envelope whose type is not carried by the topic it came from."""

    def __init__(self, topic: str, message_type: str) -> None:
        super().__init__(f"{message_type!r} is not a message type of topic {topic!r}")
        self.topic = topic
        self.message_type = message_type


def _envelope_classes(annotation: object) -> Iterator[type[Envelope[Message]]]:
    # Walks Annotated and union layers alike: Annotated flattens when nested, so a
    # one-member union and a larger one do not have the same shape.
    for arg in get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, Envelope):
            yield arg
        else:
            yield from _envelope_classes(arg)


def _message_classes(union: TypeForm[Envelope[Message]]) -> Mapping[str, type[Message]]:
    classes: list[type[Message]] = [
        envelope_cls.__pydantic_generic_metadata__["args"][0]
        for envelope_cls in _envelope_classes(union)
    ]
    return MappingProxyType({cls.message_type: cls for cls in classes})


_MESSAGE_TYPES: Final[Mapping[str, Mapping[str, type[Message]]]] = {
    topic: _message_classes(union) for topic, union in TOPIC_UNIONS.items()
}
_ADAPTERS: Final[Mapping[str, TypeAdapter[Envelope[Message]]]] = {
    topic: TypeAdapter[Envelope[Message]](union) for topic, union in TOPIC_UNIONS.items()
}


def message_types(topic: str) -> Mapping[str, type[Message]]:
    """Return the message classes carried by a topic, by message type.

    Raises:
        KeyError: ``topic`` is not a boxoffice topic.
    """
    return _MESSAGE_TYPES[topic]


def parse_envelope(topic: str, raw: bytes | str) -> Envelope[Message]:
    """Parse a message received on a topic.

    Returns:
        An envelope whose ``data`` is an instance of the concrete message class.

    Raises:
        pydantic.ValidationError: ``raw`` is not JSON, or not an envelope of the topic.
        UnknownMessageType: The envelope's type is not one of the topic.
        KeyError: ``topic`` is not a boxoffice topic.
    """
    adapter = _ADAPTERS[topic]
    try:
        return adapter.validate_json(raw)
    except ValidationError as error:
        unknown = _unknown_tag(error)
        if unknown is None:
            raise
        raise UnknownMessageType(topic, unknown) from error


def _unknown_tag(error: ValidationError) -> str | None:
    for detail in error.errors(include_url=False):
        if detail["type"] == "union_tag_invalid" and detail["loc"] == ():
            return str(detail.get("ctx", {}).get("tag"))
    return None
