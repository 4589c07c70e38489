"""Cross-service consistency check, for operators: ``python -m boxoffice.ops reconcile``.

Reads (never writes) the databases of inventory, reservations and, optionally,
notifications, and checks what the messages between them must have made true:

- for every ticket category, inventory's held + sold equals the tickets of the
  reservations that hold seats (``PENDING``, ``OFFLINE_PAYMENT``, ``COMPLETE``);
- no reservation has waited for seats (``AWAITING_SEATS``) longer than a bound;
- no outbox row has stayed unpublished longer than a bound, in any service.

Messages in flight make a live system briefly inconsistent, so the check is repeated
until it passes or ``--settle`` seconds have gone by; the last report is printed and
the exit code is 1 when anything is off.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


@dataclass
class Report:
    """What a reconciliation found."""

    categories_checked: int = 0
    reservations_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Whether nothing is off."""
        return not self.problems

    def render(self) -> str:
        """A human-readable report."""
        lines = [
            f"categories checked: {self.categories_checked}",
            f"reservations checked: {self.reservations_checked}",
        ]
        if self.clean:
            lines.append("OK: inventory and reservations agree; nothing stuck")
        else:
            lines.append(f"{len(self.problems)} problem(s):")
            lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)


def _uuid(value: Any) -> uuid.UUID:
    # PostgreSQL hands back UUIDs, SQLite 32-digit hex strings.
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _aware(value: Any) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _rows(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as connection:
        return list((await connection.execute(text(sql), params)).all())


async def check(
    inventory: AsyncEngine,
    reservations: AsyncEngine,
    others: dict[str, AsyncEngine],
    *,
    awaiting_bound: timedelta,
    outbox_bound: timedelta,
) -> Report:
    """One pass over the databases."""
    report = Report()
    now = datetime.now(UTC)
    categories = await _rows(
        inventory,
        "SELECT c.id, c.name, e.slug, c.held, c.sold FROM ticket_categories c "
        "JOIN events e ON e.id = c.event_id",
    )
    tickets = Counter(
        {
            _uuid(row.category_id): row.seats
            for row in await _rows(
                reservations,
                "SELECT t.category_id, count(*) AS seats FROM tickets t "
                "JOIN reservations r ON r.id = t.reservation_id "
                "WHERE r.status IN ('PENDING', 'OFFLINE_PAYMENT', 'COMPLETE') "
                "AND t.category_id IS NOT NULL "
                "GROUP BY t.category_id",
            )
        }
    )
    known = set()
    for row in categories:
        category_id = _uuid(row.id)
        known.add(category_id)
        report.categories_checked += 1
        used = row.held + row.sold
        if used != tickets.get(category_id, 0):
            report.problems.append(
                f"category {row.name!r} of {row.slug}: inventory holds {used} "
                f"(held {row.held} + sold {row.sold}), reservations have "
                f"{tickets.get(category_id, 0)} tickets"
            )
    for category_id in set(tickets) - known:
        report.problems.append(
            f"category {category_id}: {tickets[category_id]} tickets, unknown to inventory"
        )
    waiting = await _rows(
        reservations, "SELECT id, created_at FROM reservations WHERE status = 'AWAITING_SEATS'"
    )
    report.reservations_checked = (
        await _rows(reservations, "SELECT count(*) AS n FROM reservations")
    )[0].n
    for row in waiting:
        if now - _aware(row.created_at) > awaiting_bound:
            report.problems.append(
                f"reservation {_uuid(row.id)} has been AWAITING_SEATS since {row.created_at}"
            )
    for name, engine in {"inventory": inventory, "reservations": reservations, **others}.items():
        for row in await _rows(
            engine,
            "SELECT count(*) AS n, min(created_at) AS oldest FROM outbox "
            "WHERE published_at IS NULL",
        ):
            if row.n and now - _aware(row.oldest) > outbox_bound:
                report.problems.append(
                    f"{name}: {row.n} outbox message(s) unpublished, oldest from {row.oldest}"
                )
    return report


async def reconcile(
    inventory_url: str,
    reservations_url: str,
    other_urls: dict[str, str] | None = None,
    *,
    settle: float = 10.0,
    awaiting_bound: timedelta = timedelta(seconds=30),
    outbox_bound: timedelta = timedelta(seconds=30),
) -> Report:
    """Check until clean or ``settle`` seconds have passed; return the last report."""
    engines = {
        "inventory": create_async_engine(inventory_url),
        "reservations": create_async_engine(reservations_url),
        **{name: create_async_engine(url) for name, url in (other_urls or {}).items()},
    }
    inventory, reservations = engines.pop("inventory"), engines.pop("reservations")
    deadline = time.monotonic() + settle
    try:
        while True:
            report = await check(
                inventory,
                reservations,
                engines,
                awaiting_bound=awaiting_bound,
                outbox_bound=outbox_bound,
            )
            if report.clean or time.monotonic() >= deadline:
                return report
            await asyncio.sleep(0.5)  # messages in flight: look again
    finally:
        for engine in (inventory, reservations, *engines.values()):
            await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; exit code 1 when something is off."""
    parser = argparse.ArgumentParser(prog="boxoffice.ops reconcile", description=__doc__)
    parser.add_argument("--inventory-db", required=True, help="inventory's database URL")
    parser.add_argument("--reservations-db", required=True, help="reservations' database URL")
    parser.add_argument("--notifications-db", help="notifications' database URL (outbox)")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds to wait for quiet")
    parser.add_argument("--stuck-after", type=float, default=30.0, help="seconds = stuck")
    args = parser.parse_args(argv)
    others = {"notifications": args.notifications_db} if args.notifications_db else {}
    bound = timedelta(seconds=args.stuck_after)
    report = asyncio.run(
        reconcile(
            args.inventory_db,
            args.reservations_db,
            others,
            settle=args.settle,
            awaiting_bound=bound,
            outbox_bound=bound,
        )
    )
    print(report.render())
    return 0 if report.clean else 1


if __name__ == "__main__":
    sys.exit(main())
