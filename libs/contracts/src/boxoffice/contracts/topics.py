"""Kafka topic names of boxoffice."""

from enum import StrEnum


class Topic(StrEnum):
    """A topic carrying boxoffice messages.

    Commands are addressed to the service owning the topic's area; events are published
    by it. ``payments.events`` is fed by systems outside boxoffice.
    """

    INVENTORY_COMMANDS = "inventory.commands"
    INVENTORY_EVENTS = "inventory.events"
    RESERVATIONS_COMMANDS = "reservations.commands"
    RESERVATIONS_EVENTS = "reservations.events"
    NOTIFICATIONS_COMMANDS = "notifications.commands"
    NOTIFICATIONS_EVENTS = "notifications.events"
    PAYMENTS_EVENTS = "payments.events"


ALL_TOPICS: tuple[Topic, ...] = tuple(Topic)

_DLQ_SUFFIX = ".dlq"


def dlq_topic(topic: str) -> str:
    """Return the dead-letter topic where undeliverable messages of ``topic`` are parked."""
    return f"{topic}{_DLQ_SUFFIX}"
