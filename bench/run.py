"""``make bench``: throughput, latency, contention, bulk, expiry and email, measured.

Starts the real system as processes (PostgreSQL databases, a Tansu broker, the SMTP
sink, the three services) and measures each figure next to its reference in the same
run. Prints a table and writes JSON (and a latency plot) to ``bench/results/``.

``--quick`` runs every scenario with small numbers (a smoke run of the same code).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import httpx
import psutil
from sqlalchemy.engine import make_url

from bench.relay_lag import measure as measure_relay_lag
from boxoffice.devstack.broker import TansuBroker
from boxoffice.devstack.databases import fresh_postgres_database
from boxoffice.devstack.stack import SERVICES, Stack

RESULTS = Path(__file__).with_name("results")


@dataclass(frozen=True)
class Scale:
    """How big each scenario is."""

    level_seconds: float
    concurrency: tuple[int, ...]
    racers: int
    racing_seats: int
    bulk_attendees: int
    expiries: int
    emails: int
    lag_messages: int
    warm_up_seconds: float = 2.0


FULL = Scale(12.0, (1, 8, 32, 64), 500, 100, 10_000, 5_000, 1_000, 300)
QUICK = Scale(2.0, (1, 8, 32), 100, 20, 1_000, 200, 50, 50, warm_up_seconds=0.5)


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of the values fall (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def latency_summary(latencies_ms: list[float], elapsed: float) -> dict[str, float]:
    """Rate and percentiles of a set of calls."""
    return {
        "count": len(latencies_ms),
        "per_second": len(latencies_ms) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(latencies_ms, 0.50),
        "p95_ms": percentile(latencies_ms, 0.95),
        "p99_ms": percentile(latencies_ms, 0.99),
    }


@dataclass
class Bench:
    """One benchmark run against one stack."""

    stack: Stack
    client: httpx.AsyncClient
    scale: Scale
    results: dict[str, Any] = field(default_factory=dict)
    _load_client: aiohttp.ClientSession | None = None

    def inventory(self, path: str) -> str:
        return f"{self.stack.url('inventory')}{path}"

    def reservations(self, path: str) -> str:
        return f"{self.stack.url('reservations')}{path}"

    async def create_event(
        self, capacity: int, *, price: str = "10.00", public: bool = True
    ) -> tuple[str, str]:
        """A fresh event with one dynamic category; returns (slug, category id)."""
        capacity += 1  # the warm-up seat of _wait_replicated
        slug = f"bench-{uuid.uuid4().hex[:10]}"
        starts = datetime.now(UTC) + timedelta(days=60)
        response = await self.client.post(
            self.inventory("/v1/events"),
            json={
                "slug": slug,
                "name": slug,
                "currency": "EUR",
                "timezone": "Europe/Berlin",
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=8)).isoformat(),
                "capacity": capacity,
                "public_reservation_limit": 10,
                "categories": [
                    {
                        "name": "Standard",
                        "visibility": "public" if public else "hidden",
                        "price": price,
                        "max_seats": None,
                    }
                ],
            },
            headers=self.stack.headers(),
        )
        response.raise_for_status()
        category_id: str = response.json()["categories"][0]["id"]
        await self._wait_replicated(slug, category_id)
        return slug, category_id

    async def _wait_replicated(self, slug: str, category_id: str) -> None:
        """Hold one warm-up seat, retrying while reservations' replica lacks the event.

        Every event is created with one seat more than its scenario needs for this.
        """
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            response = await self.client.post(
                self.reservations(f"/v1/events/{slug}/reservations"),
                json=self.body(category_id, 1),
                headers=self.stack.headers(),
            )
            unknown = response.status_code == 404 or (
                response.status_code == 422 and "CATEGORY_NOT_FOUND" in response.text
            )
            if not unknown:
                response.raise_for_status()
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"event {slug} not replicated within 30 s")

    @staticmethod
    def body(category_id: str, seats: int, **extra: Any) -> dict[str, Any]:
        return {
            "contact": {"first_name": "Bench", "last_name": "Client", "email": "b@bench.example"},
            "items": [{"category": {"id": category_id}, "empty_seats": seats}],
            **extra,
        }

    async def closed_loop(
        self, concurrency: int, seconds: float, call: Callable[[], Awaitable[int]]
    ) -> tuple[list[float], Counter[int], float]:
        """``concurrency`` clients calling back to back for ``seconds``."""
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        stop_at = time.perf_counter() + seconds

        async def client_loop() -> None:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                status = await call()
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[status] += 1

        started = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        return latencies, statuses, time.perf_counter() - started

    def create_call(self, url: str, category_id: str, seats: int) -> Callable[[], Awaitable[int]]:
        """One backoffice create through the load client; returns the HTTP status."""
        body = json.dumps(self.body(category_id, seats)).encode()
        headers = {**self.stack.headers(), "Content-Type": "application/json"}

        async def create() -> int:
            async with self.load_client().post(url, data=body, headers=headers) as response:
                await response.read()
                return response.status

        return create

    def load_client(self) -> aiohttp.ClientSession:
        """The client of the load loops: aiohttp, about a third of httpx's CPU per call.

        The client shares the machine with the system it measures, so its CPU is taken
        from the services; the scenarios' other calls use httpx.
        """
        if self._load_client is None:
            self._load_client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                timeout=aiohttp.ClientTimeout(total=60),
            )
        return self._load_client

    async def close(self) -> None:
        """Close the load client."""
        if self._load_client is not None:
            await self._load_client.close()
            self._load_client = None

    async def creates(self, label: str, seats_options: tuple[int, ...]) -> None:
        """Scenario 1 (and 7): create → PENDING at each concurrency."""
        rows = []
        for seats in seats_options:
            slug, category_id = await self.create_event(500_000)
            create = self.create_call(
                self.reservations(f"/v1/events/{slug}/reservations"), category_id, seats
            )
            for concurrency in self.scale.concurrency:
                # Warm up at the level's concurrency first (connections, pools, the
                # statement caches, the consumers' batches), then measure.
                await self.closed_loop(concurrency, self.scale.warm_up_seconds, create)
                latencies, statuses, elapsed = await self.closed_loop(
                    concurrency, self.scale.level_seconds, create
                )
                pending = list(latencies)
                row = {
                    "seats": seats,
                    "concurrency": concurrency,
                    **latency_summary(pending, elapsed),
                    "statuses": {str(code): count for code, count in statuses.items()},
                }
                rows.append(row)
                print(
                    f"  {label} {seats:>2}-seat c={concurrency:<3} {row['per_second']:7.1f}/s "
                    f"p50={row['p50_ms']:6.1f} p95={row['p95_ms']:6.1f} p99={row['p99_ms']:6.1f} ms "
                    f"{dict(statuses)}",
                    flush=True,
                )
        self.results[label] = rows

    async def contention(self) -> None:
        """Scenario 3: many clients racing for the last seats, both channels."""
        seats = self.scale.racing_seats
        slug, category_id = await self.create_event(seats)
        url = self.reservations(f"/v1/events/{slug}/reservations")
        half = self.scale.racers // 2
        started = time.perf_counter()

        async def backoffice() -> int:
            response = await self.client.post(
                url, json=self.body(category_id, 1), headers=self.stack.headers()
            )
            return response.status_code

        producer = await self.stack_producer()
        try:
            public_ids = [uuid.uuid4() for _ in range(self.scale.racers - half)]
            statuses = await asyncio.gather(
                *(backoffice() for _ in range(half)),
                *(self.public_create(producer, slug, category_id, rid) for rid in public_ids),
            )
        finally:
            await producer.stop()

        async def settled() -> dict[str, int]:
            counts: Counter[str] = Counter()
            page = 1
            while True:
                response = await self.client.get(
                    url, params={"page": page, "page_size": 500}, headers=self.stack.headers()
                )
                body = response.json()
                counts.update(item["status"] for item in body["items"])
                if len(body["items"]) < 500:
                    return dict(counts)
                page += 1

        deadline = time.monotonic() + 120
        counts = await settled()
        while (
            sum(counts.values()) < self.scale.racers + 1 or counts.get("AWAITING_SEATS", 0)
        ) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            counts = await settled()
        settle_seconds = time.perf_counter() - started
        event = (
            await self.client.get(
                self.inventory(f"/v1/events/{slug}"), headers=self.stack.headers()
            )
        ).json()
        category = event["categories"][0]
        held = category["held"] + category["sold"] - 1  # less the warm-up seat
        row = {
            "clients": self.scale.racers,
            "seats": seats,
            "held": held,
            "oversold": max(0, held - seats),
            "pending": counts.get("PENDING", 0) - 1,
            "rejected": counts.get("REJECTED", 0),
            "http_statuses": dict(Counter(str(s) for s in statuses[:half])),
            "settle_seconds": settle_seconds,
        }
        self.results["contention"] = row
        print(
            f"  contention: {row['clients']} clients for {seats} seats → held {held}, "
            f"oversold {row['oversold']}, pending {row['pending']}, rejected {row['rejected']}, "
            f"settled in {settle_seconds:.2f} s",
            flush=True,
        )

    async def stack_producer(self) -> Any:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=self.stack.bootstrap, acks="all")
        await producer.start()
        return producer

    async def public_create(
        self, producer: Any, slug: str, category_id: str, reservation_id: uuid.UUID
    ) -> int:
        """A public shop's CreateReservation command on reservations.commands."""
        from boxoffice.contracts import Envelope
        from boxoffice.contracts.common import Channel, Contact
        from boxoffice.contracts.reservations import (
            CreateReservation,
            ReservationItem,
        )

        envelope = Envelope.wrap(
            CreateReservation(
                reservation_id=reservation_id,
                event_slug=slug,
                channel=Channel.PUBLIC,
                contact=Contact(first_name="Shop", last_name="Buyer", email="s@shop.example"),
                items=[ReservationItem(category_id=uuid.UUID(category_id), empty_seats=1)],
            ),
            source="bench.shop",
        )
        await producer.send_and_wait(
            f"reservations.commands{self.stack.topic_suffix}",
            envelope.to_json(),
            key=str(reservation_id).encode(),
        )
        return 0

    async def bulk(self) -> None:
        """Scenario 4: one reservation of N attendees from a CSV."""
        count = self.scale.bulk_attendees
        slug, category_id = await self.create_event(count + 10, price="0.00")
        csv = "first name,last name,email\n" + "".join(
            f"Guest{i},Bulk,guest{i}@bulk.example\n" for i in range(count)
        )
        sampler = RssSampler(self.stack)
        sampler.start()
        started = time.perf_counter()
        parsed = await self.client.post(
            self.reservations("/v1/attendees/csv"),
            content=csv.encode(),
            headers={**self.stack.headers(), "Content-Type": "text/csv"},
        )
        parsed.raise_for_status()
        attendees = parsed.json()["attendees"]
        parse_seconds = time.perf_counter() - started
        created = await self.client.post(
            self.reservations(f"/v1/events/{slug}/reservations"),
            json={
                "contact": {"first_name": "Bulk", "last_name": "Buyer", "email": "bulk@b.example"},
                "items": [{"category": {"id": category_id}, "attendees": attendees}],
            },
            headers=self.stack.headers(),
            timeout=120,
        )
        status = created.json()["status"]
        reservation_id = created.json()["id"]
        while status == "AWAITING_SEATS":
            await asyncio.sleep(0.05)
            status = (
                await self.client.get(
                    self.reservations(f"/v1/reservations/{reservation_id}"),
                    headers=self.stack.headers(),
                )
            ).json()["status"]
        seconds = time.perf_counter() - started
        sampler.stop()
        row = {
            "attendees": len(attendees),
            "status": status,
            "parse_seconds": parse_seconds,
            "seconds": seconds,
            "peak_rss_mb": sampler.peaks_mb(),
        }
        self.results["bulk"] = row
        print(
            f"  bulk: {row['attendees']} attendees → {status} in {seconds:.2f} s "
            f"(CSV parse {parse_seconds:.2f} s); peak RSS MB {row['peak_rss_mb']}",
            flush=True,
        )

    async def expiry(self) -> None:
        """Scenario 5: N reservations expiring together → seats free in inventory."""
        count = self.scale.expiries
        slug, category_id = await self.create_event(count)
        expires_at = datetime.now(UTC) + timedelta(days=1)
        url = self.reservations(f"/v1/events/{slug}/reservations")
        created: list[str] = []
        semaphore = asyncio.Semaphore(32)

        async def create() -> None:
            async with semaphore:
                response = await self.client.post(
                    url,
                    json=self.body(category_id, 1, expires_at=expires_at.isoformat()),
                    headers=self.stack.headers(),
                )
                created.append(response.json()["id"])

        await asyncio.gather(*(create() for _ in range(count)))
        await self._wait_available(slug, 0, within=120)
        # Move every expiry to one instant ahead, then watch. The instant leaves time for
        # the PATCHes themselves (at 100/s, well below what the service answers).
        ahead = timedelta(seconds=5 + count / 100)
        moment = (datetime.now(UTC) + ahead).replace(microsecond=0)

        async def move(reservation_id: str) -> None:
            async with semaphore:
                response = await self.client.patch(
                    self.reservations(f"/v1/reservations/{reservation_id}"),
                    json={"expires_at": moment.isoformat()},
                    headers=self.stack.headers(),
                )
                response.raise_for_status()

        await asyncio.gather(*(move(rid) for rid in created))
        wait = (moment - datetime.now(UTC)).total_seconds()
        if wait > 0:
            await asyncio.sleep(wait)
        started = time.perf_counter()
        await self._wait_available(slug, count, within=300)
        seconds = time.perf_counter() - started
        self.results["expiry"] = {"reservations": count, "seconds_until_free": seconds}
        print(
            f"  expiry: {count} reservations expired, seats free after {seconds:.2f} s", flush=True
        )

    async def _wait_available(self, slug: str, available: int, *, within: float) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            event = (
                await self.client.get(
                    self.inventory(f"/v1/events/{slug}"), headers=self.stack.headers()
                )
            ).json()
            if event["categories"][0]["available"] == available:
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"{slug}: availability never reached {available}")

    async def emails(self) -> None:
        """Scenario 6: send tickets for N attendees, until every email is sent."""
        count = self.scale.emails
        slug, category_id = await self.create_event(count, price="0.00")
        attendees = [
            {"first_name": f"Att{i}", "last_name": "Mail", "email": f"att{i}@mail.example"}
            for i in range(count)
        ]
        created = await self.client.post(
            self.reservations(f"/v1/events/{slug}/reservations"),
            json={
                "contact": {"first_name": "Mail", "last_name": "Buyer", "email": "m@b.example"},
                "items": [{"category": {"id": category_id}, "attendees": attendees}],
            },
            headers=self.stack.headers(),
            timeout=60,
        )
        reservation_id = created.json()["id"]
        completed = await self.client.post(
            self.reservations(f"/v1/reservations/{reservation_id}/complete"),
            headers=self.stack.headers(),
        )
        completed.raise_for_status()
        started = time.perf_counter()
        sent = await self.client.post(
            self.reservations(f"/v1/reservations/{reservation_id}/send-tickets"),
            json={},
            headers=self.stack.headers(),
            timeout=60,
        )
        sent.raise_for_status()
        deadline = time.monotonic() + 600
        statuses: Counter[str] = Counter()
        while time.monotonic() < deadline:
            log = await self.client.get(
                self.reservations(f"/v1/reservations/{reservation_id}/emails"),
                headers=self.stack.headers(),
            )
            statuses = Counter(entry["status"] for entry in log.json())
            if statuses.get("sent", 0) + statuses.get("failed", 0) >= count:
                break
            await asyncio.sleep(0.2)
        seconds = time.perf_counter() - started
        self.results["email"] = {"emails": count, "seconds": seconds, "statuses": dict(statuses)}
        print(f"  email: {count} ticket emails → {dict(statuses)} in {seconds:.2f} s", flush=True)


class RssSampler:
    """Peak resident memory of each service process, sampled in a thread."""

    def __init__(self, stack: Stack) -> None:
        self._processes = {
            name: psutil.Process(group[0].process.pid)
            for name, group in stack.processes.items()
            if group[0].process is not None
        }
        self._peaks = dict.fromkeys(self._processes, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            for name, process in self._processes.items():
                try:
                    self._peaks[name] = max(self._peaks[name], process.memory_info().rss)
                except psutil.Error:
                    continue

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def peaks_mb(self) -> dict[str, float]:
        return {name: round(peak / 2**20, 1) for name, peak in self._peaks.items()}


async def reference_holds(
    database_url: str, concurrency: tuple[int, ...], seconds: float
) -> list[dict[str, Any]]:
    """Scenario 2: the same hold as one SQL transaction, straight on PostgreSQL."""
    url = make_url(database_url)
    pool = await asyncpg.create_pool(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        database=url.database,
        min_size=max(concurrency),
        max_size=max(concurrency),
    )
    if pool is None:
        raise RuntimeError("no connection pool")
    async with pool.acquire() as connection:
        await connection.execute(
            """
            CREATE TABLE ref_event (id int PRIMARY KEY, capacity int NOT NULL, used int NOT NULL);
            CREATE TABLE ref_hold (id uuid PRIMARY KEY, event_id int NOT NULL, seats int NOT NULL,
                                   created_at timestamptz NOT NULL DEFAULT now());
            INSERT INTO ref_event VALUES (1, 100000000, 0);
            """
        )

    async def hold() -> None:
        async with pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(
                "SELECT capacity, used FROM ref_event WHERE id = 1 FOR UPDATE"
            )
            if row["used"] + 1 <= row["capacity"]:
                await connection.execute("UPDATE ref_event SET used = used + 1 WHERE id = 1")
                await connection.execute(
                    "INSERT INTO ref_hold (id, event_id, seats) VALUES ($1, 1, 1)", uuid.uuid4()
                )

    rows = []
    for clients in concurrency:
        latencies: list[float] = []
        stop_at = time.perf_counter() + seconds

        async def loop(stop_at: float = stop_at, latencies: list[float] = latencies) -> None:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                await hold()
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(clients)))
        rows.append(
            {"concurrency": clients, **latency_summary(latencies, time.perf_counter() - started)}
        )
    await pool.close()
    return rows


@asynccontextmanager
async def running_stack(
    bootstrap: str, workdir: Path, *, sqlite: bool = False, replicas: dict[str, int] | None = None
) -> AsyncIterator[Stack]:
    """The three services on fresh databases (PostgreSQL or SQLite files)."""
    async with AsyncExitStack() as databases:
        if sqlite:
            urls = {name: f"sqlite+aiosqlite:///{workdir / f'{name}.db'}" for name in SERVICES}
        else:
            urls = {
                name: await databases.enter_async_context(
                    fresh_postgres_database("boxoffice_bench")
                )
                for name in SERVICES
            }
        quiet = {"LOG_LEVEL": "WARNING", "CREATE_WAIT_SECONDS": "10"}
        stack = Stack(
            bootstrap=bootstrap,
            database_urls=urls,
            workdir=workdir,
            replicas=replicas or {},
            settings={
                "inventory": {"LOG_LEVEL": "WARNING"},
                "reservations": quiet,
                "notifications": {
                    "LOG_LEVEL": "WARNING",
                    "SMTP_CONCURRENCY": "8",
                    "RENDER_PROCESSES": "1",
                },
            },
        )
        try:
            await stack.start()
            yield stack
        finally:
            stack.stop()


def plot(results: dict[str, Any], path: Path) -> None:
    """Latency percentiles against concurrency (1-seat creates on PostgreSQL)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for seats in sorted({row["seats"] for row in results["creates_postgresql"]}):
        rows = [row for row in results["creates_postgresql"] if row["seats"] == seats]
        levels = [row["concurrency"] for row in rows]
        for key, style in (("p50_ms", "-o"), ("p95_ms", "--s"), ("p99_ms", ":^")):
            axis.plot(levels, [row[key] for row in rows], style, label=f"{seats}-seat {key[:3]}")
    axis.set_xscale("log", base=2)
    axis.set_xlabel("concurrent clients")
    axis.set_ylabel("create → PENDING latency (ms)")
    axis.set_title("boxoffice: backoffice create latency (PostgreSQL)")
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a one-minute smoke run")
    args = parser.parse_args()
    scale = QUICK if args.quick else FULL
    RESULTS.mkdir(exist_ok=True)
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(),
        "mode": "quick" if args.quick else "full",
        "machine": {
            "cpus": psutil.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        broker = TansuBroker(log_dir=tmp).start()
        try:
            async with httpx.AsyncClient(timeout=60) as client:
                print("PostgreSQL stack", flush=True)
                async with running_stack(broker.bootstrap_servers, Path(tmp) / "pg") as stack:
                    bench = Bench(stack, client, scale, results)
                    try:
                        await bench.creates("creates_postgresql", (1, 10))
                    finally:
                        await bench.close()
                    await bench.contention()
                    await bench.bulk()
                    await bench.expiry()
                    await bench.emails()
                print("reference: one SQL transaction per hold", flush=True)
                async with fresh_postgres_database("boxoffice_bench") as url:
                    reference = await reference_holds(url, scale.concurrency, scale.level_seconds)
                results["reference_sql"] = reference
                for row in reference:
                    print(
                        f"  reference c={row['concurrency']:<3} {row['per_second']:7.1f}/s p99={row['p99_ms']:6.1f} ms"
                    )
                print("SQLite stack (embedded default)", flush=True)
                (Path(tmp) / "sqlite").mkdir()
                async with running_stack(
                    broker.bootstrap_servers, Path(tmp) / "sqlite", sqlite=True
                ) as stack:
                    sqlite_bench = Bench(
                        stack,
                        client,
                        Scale(scale.level_seconds, (8,), 0, 0, 0, 0, 0, 0, scale.warm_up_seconds),
                        results,
                    )
                    try:
                        await sqlite_bench.creates("creates_sqlite", (1,))
                    finally:
                        await sqlite_bench.close()
            print("relay lag (commit → consumer)", flush=True)
            async with fresh_postgres_database("boxoffice_bench") as url:
                lags = await measure_relay_lag(url, broker.bootstrap_servers, scale.lag_messages)
            async with fresh_postgres_database("boxoffice_bench") as url:
                loaded = await measure_relay_lag(
                    url, broker.bootstrap_servers, scale.lag_messages, load_per_second=500
                )
            results["relay_lag_ms"] = {
                "idle_p50": statistics.median(lags),
                "idle_p99": percentile(lags, 0.99),
                "load_per_second": 500,
                "loaded_p50": statistics.median(loaded),
                "loaded_p99": percentile(loaded, 0.99),
            }
        finally:
            broker.stop()
    results["seconds"] = time.perf_counter() - started
    ones = {row["concurrency"]: row for row in results["creates_postgresql"] if row["seats"] == 1}
    refs = {row["concurrency"]: row for row in results["reference_sql"]}
    results["ratio_to_reference"] = {
        str(c): ones[c]["per_second"] / refs[c]["per_second"] for c in ones if c in refs
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{stamp}-{results['mode']}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    plot(results, RESULTS / f"{stamp}-{results['mode']}-latency.png")
    print_table(results)
    print(f"\nresults: {path}")


def print_table(results: dict[str, Any]) -> None:
    print("\n| figure | value |\n| --- | --- |")
    for row in results["creates_postgresql"]:
        print(
            f"| create {row['seats']}-seat, {row['concurrency']} clients (PostgreSQL) | "
            f"{row['per_second']:.1f}/s, p50 {row['p50_ms']:.0f} / p95 {row['p95_ms']:.0f} / "
            f"p99 {row['p99_ms']:.0f} ms |"
        )
    for concurrency, ratio in results["ratio_to_reference"].items():
        print(f"| 1-seat create / single-SQL reference at {concurrency} clients | {ratio:.3f} |")
    for row in results["creates_sqlite"]:
        print(
            f"| create {row['seats']}-seat, {row['concurrency']} clients (SQLite) | "
            f"{row['per_second']:.1f}/s, p99 {row['p99_ms']:.0f} ms |"
        )
    c = results["contention"]
    print(
        f"| contention {c['clients']} clients / {c['seats']} seats | held {c['held']}, oversold {c['oversold']}, settled {c['settle_seconds']:.2f} s |"
    )
    b = results["bulk"]
    print(
        f"| bulk {b['attendees']} attendees CSV → PENDING | {b['seconds']:.2f} s, peak RSS MB {b['peak_rss_mb']} |"
    )
    e = results["expiry"]
    print(f"| {e['reservations']} expiries → seats free | {e['seconds_until_free']:.2f} s |")
    m = results["email"]
    print(f"| {m['emails']} ticket emails → sent | {m['seconds']:.2f} s |")
    lag = results["relay_lag_ms"]
    print(f"| relay lag idle p50 / p99 | {lag['idle_p50']:.1f} / {lag['idle_p99']:.1f} ms |")
    print(
        f"| relay lag under {lag['load_per_second']} commits/s p50 / p99 | "
        f"{lag['loaded_p50']:.1f} / {lag['loaded_p99']:.1f} ms |"
    )
    print(f"| whole run | {results['seconds']:.0f} s |")


if __name__ == "__main__":
    asyncio.run(main())
