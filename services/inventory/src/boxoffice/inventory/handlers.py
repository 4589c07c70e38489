"""Kafka subscribers of the inventory service: thin adapters onto the service.

The chassis consumer has already claimed the message in the inbox (dedupe by
envelope id) and opened the transaction the handler runs in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from boxoffice.chassis.messaging import Handler
from boxoffice.chassis.runtime import ServiceRuntime
from boxoffice.contracts.envelope import Envelope, Message
from boxoffice.contracts.inventory import ConfirmSeats, HoldSeats, ReleaseSeats
from boxoffice.contracts.topics import Topic
from boxoffice.inventory.repository import InventoryRepository
from boxoffice.inventory.service import Cause, InventoryService

logger = logging.getLogger(__name__)

CONSUMER_GROUP = "inventory"


def inventory_command_handler(service: InventoryService) -> Handler:
    """The handler of ``inventory.commands``: one command, one service call."""

    async def handle(envelope: Envelope[Message], session: AsyncSession) -> None:
        cause = Cause(correlationid=envelope.correlationid, causationid=envelope.id)
        command = envelope.data
        if isinstance(command, HoldSeats):
            await service.hold_seats(session, command, cause)
        elif isinstance(command, ConfirmSeats):
            await service.confirm_seats(session, command, cause)
        elif isinstance(command, ReleaseSeats):
            await service.release_seats(session, command, cause)
        else:  # a type added to the topic later: acknowledged, not applied
            logger.warning("unhandled command type", extra={"message_type": envelope.type})

    return handle


async def prepare_commands(envelopes: Sequence[Envelope[Message]], session: AsyncSession) -> None:
    """Lock the batch's events and load their categories and holds, once for all."""
    commands = [
        envelope.data
        for envelope in envelopes
        if isinstance(envelope.data, HoldSeats | ConfirmSeats | ReleaseSeats)
    ]
    await InventoryRepository(session).prepare_batch(
        {command.event_id for command in commands},
        {command.reservation_id for command in commands},
    )


def register_handlers(runtime: ServiceRuntime, service: InventoryService) -> None:
    """Subscribe the service to the topics it consumes."""
    runtime.consumer.subscribe(
        Topic.INVENTORY_COMMANDS,
        inventory_command_handler(service),
        group=CONSUMER_GROUP,
        prepare=prepare_commands,
    )
