"""Dead letters, for operators: ``python -m boxoffice.ops dlq {list,replay}``.

``list`` prints every message of a ``<topic>.dlq`` topic with what the consumer wrote in
its ``x-dlq-*`` headers (reason, error, attempts, original topic/partition/offset,
service) and the first bytes of the body. ``replay`` publishes chosen dead letters
again to their original topic, with their original key and headers (the ``x-dlq-*``
ones removed, ``x-replayed-from`` added): fix the cause first (deploy the fixed
consumer, repair the data), then replay. Replays are safe: a message handled before
keeps its envelope id, and the consumer's inbox drops it.

Reading stops once no new record has arrived for ``--idle`` seconds: the end offsets
some Kafka-compatible brokers report cannot be relied on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from boxoffice.contracts import dlq_topic

DLQ_HEADER_PREFIX = "x-dlq-"
REPLAYED_FROM = "x-replayed-from"
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str | None:
        """A header's value as text (the last one of that name)."""
        found = [value for key, value in self.headers if key == name]
        return found[-1].decode("utf-8", errors="replace") if found else None

    @property
    def dlq_headers(self) -> dict[str, str]:
        """The ``x-dlq-*`` headers, without the prefix."""
        return {
            key.removeprefix(DLQ_HEADER_PREFIX): value.decode("utf-8", errors="replace")
            for key, value in self.headers
            if key.startswith(DLQ_HEADER_PREFIX)
        }

    @property
    def original_topic(self) -> str:
        """Where the message came from (header, else the DLQ name minus ``.dlq``)."""
        return self.header(f"{DLQ_HEADER_PREFIX}original-topic") or self.topic.removesuffix(
            dlq_topic("")
        )

    def replay_headers(self) -> list[tuple[str, bytes]]:
        """The original headers, ``x-dlq-*`` removed, ``x-replayed-from`` added."""
        kept = [
            (key, value)
            for key, value in self.headers
            if not key.startswith(DLQ_HEADER_PREFIX) and key != REPLAYED_FROM
        ]
        return [*kept, (REPLAYED_FROM, f"{self.topic}:{self.partition}:{self.offset}".encode())]

    def to_json(self, preview: int) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": _text(self.key) if self.key is not None else None,
            "dlq": self.dlq_headers,
            "body": _text(self.value[:preview]),
            "size": len(self.value),
        }

    def render(self, preview: int) -> str:
        """A human-readable block."""
        dlq = self.dlq_headers
        key = _text(self.key) if self.key is not None else "-"
        lines = [
            f"{self.topic} partition {self.partition} offset {self.offset}  key {key}",
            f"  reason {dlq.get('reason', '?')}  error-type {dlq.get('error-type', '?')}"
            f"  attempts {dlq.get('attempts', '?')}  service {dlq.get('service', '?')}",
            f"  original {dlq.get('original-topic', '?')} partition "
            f"{dlq.get('original-partition', '?')} offset {dlq.get('original-offset', '?')}",
            f"  error {dlq.get('error', '')}",
            f"  body ({len(self.value)} bytes) {_text(self.value[:preview])!r}",
        ]
        return "\n".join(lines)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


async def read_dead_letters(
    bootstrap: str, topic: str, *, idle: float = 2.0, within: float = 60.0
) -> list[DeadLetter]:
    """Every record of ``topic``, in partition and offset order; commits nothing."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer.client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise LookupError(f"topic {topic!r} does not exist")
        consumer.assign([TopicPartition(topic, partition) for partition in sorted(partitions)])
        await consumer.seek_to_beginning()
        records: list[DeadLetter] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        quiet_since = loop.time()
        while loop.time() - quiet_since < idle and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for batch in batches.values():
                for record in batch:
                    records.append(
                        DeadLetter(
                            topic=record.topic,
                            partition=record.partition,
                            offset=record.offset,
                            key=record.key,
                            value=record.value or b"",
                            headers=tuple(record.headers or ()),
                        )
                    )
                    quiet_since = loop.time()
        return sorted(records, key=lambda letter: (letter.partition, letter.offset))
    finally:
        await consumer.stop()


def select_letters(
    letters: Sequence[DeadLetter], selectors: Sequence[str], partition: int | None
) -> list[DeadLetter]:
    """The letters chosen by ``N`` or ``P:N`` selectors (and ``partition``, if given).

    Raises:
        ValueError: a selector matches nothing, or an offset is in several partitions.
    """
    chosen: list[DeadLetter] = []
    for selector in selectors:
        wanted_partition, _, wanted_offset = selector.rpartition(":")
        part = int(wanted_partition) if wanted_partition else partition
        offset = int(wanted_offset)
        matches = [
            letter
            for letter in letters
            if letter.offset == offset and (part is None or letter.partition == part)
        ]
        if not matches:
            raise ValueError(f"no dead letter at offset {selector}")
        if len(matches) > 1:
            where = ", ".join(f"{letter.partition}:{letter.offset}" for letter in matches)
            raise ValueError(f"offset {selector} is in several partitions ({where}): use P:N")
        if matches[0] not in chosen:
            chosen.append(matches[0])
    return chosen


async def replay(bootstrap: str, letters: Sequence[DeadLetter]) -> None:
    """Publish ``letters`` to their original topics, in order, and wait for the acks."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for letter in letters:
            await producer.send_and_wait(
                letter.original_topic,
                letter.value,
                key=letter.key,
                headers=letter.replay_headers(),
            )
    finally:
        await producer.stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m boxoffice.ops dlq", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("list", "print every dead letter of a topic"),
        ("replay", "publish dead letters again to their original topic"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument(
            "--bootstrap",
            default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", DEFAULT_BOOTSTRAP),
            help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092)",
        )
        command.add_argument("--topic", required=True, help="the dead-letter topic, <topic>.dlq")
        command.add_argument(
            "--idle", type=float, default=2.0, help="stop reading after this many quiet seconds"
        )
        if name == "list":
            command.add_argument("--json", action="store_true", help="one JSON object a line")
            command.add_argument(
                "--preview", type=int, default=200, help="body bytes to show (default 200)"
            )
        else:
            chosen = command.add_mutually_exclusive_group(required=True)
            chosen.add_argument(
                "--offset",
                nargs="+",
                metavar="[P:]N",
                help="offsets to replay (P:N names the partition)",
            )
            chosen.add_argument("--all", action="store_true", help="replay every dead letter")
            command.add_argument("--partition", type=int, help="partition of bare offsets")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    args = _parser().parse_args(argv)
    if not args.topic.endswith(dlq_topic("")):
        print(f"{args.topic} is not a dead-letter topic (<topic>.dlq)", file=sys.stderr)
        return 2
    try:
        letters = asyncio.run(read_dead_letters(args.bootstrap, args.topic, idle=args.idle))
    except LookupError as error:
        print(error, file=sys.stderr)
        return 2
    if args.command == "list":
        for letter in letters:
            if args.json:
                print(json.dumps(letter.to_json(args.preview), sort_keys=True))
            else:
                print(letter.render(args.preview))
        if not args.json:
            print(f"{len(letters)} dead letter(s) in {args.topic}")
        return 0
    try:
        chosen = list(letters) if args.all else select_letters(letters, args.offset, args.partition)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    asyncio.run(replay(args.bootstrap, chosen))
    for letter in chosen:
        print(
            f"replayed {letter.topic} partition {letter.partition} offset {letter.offset}"
            f" -> {letter.original_topic}"
        )
    print(f"{len(chosen)} dead letter(s) replayed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
