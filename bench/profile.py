"""``make bench-profile``: where the CPU of a create goes, process by process.

Starts the real system (PostgreSQL, Tansu, the three services), runs 1-seat backoffice
creates from ``--clients`` concurrent clients for ``--seconds``, and prints the rate and
the CPU milliseconds each process spent per create (PostgreSQL backends, the broker and
this client included). ``--py-spy SERVICE`` also records a flame graph of one service
with py-spy (``pip install py-spy``; it needs ptrace permission) into ``bench/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import psutil
from sqlalchemy.engine import make_url

from bench.run import RESULTS, Bench, Scale, latency_summary, percentile, running_stack
from boxoffice.devstack.broker import TansuBroker
from boxoffice.devstack.polling import eventually
from boxoffice.devstack.stack import ServiceProcess, Stack


def total_cpu(processes: list[psutil.Process]) -> float:
    """User plus system CPU of some processes, in seconds (a gone one counts nothing)."""
    total = 0.0
    for each in processes:
        try:
            times = each.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def cpu_seconds(process: psutil.Process, *, children: bool = True) -> float:
    """CPU of a process (and its children), in seconds."""
    return total_cpu([process, *(process.children(recursive=True) if children else [])])


def postgres_cpu() -> float:
    """CPU of every PostgreSQL process on this machine (backends come and go)."""
    return total_cpu(
        [
            process
            for process in psutil.process_iter(["name"])
            if (process.info["name"] or "").startswith("postgres")
        ]
    )


def start_profiled(service: ServiceProcess, stats_path: Path) -> None:
    """Restart one service under ``bench.profiled`` (cProfile switched by signals)."""
    service.stop()
    stats_path.unlink(missing_ok=True)
    with service.log_path.open("ab") as log:
        service.process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
            [sys.executable, "-m", "bench.profiled", f"boxoffice.{service.name}", str(stats_path)],
            env={**os.environ, **service.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def start_py_spy(
    pid: int, seconds: float, output_format: str, path: Path
) -> subprocess.Popen[bytes]:
    """py-spy recording a process without pausing it (``--nonblocking``)."""
    return subprocess.Popen(  # noqa: S603 - a developer's own tool
        [
            shutil.which("py-spy") or "py-spy",
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "100",
            "--nonblocking",
            "--format",
            output_format,
            "--output",
            str(path),
        ],
    )


async def print_stats(stats_path: Path, count: int) -> None:
    """The functions with the most own time, and the biggest by cumulative time."""
    # The service writes the file (atomically) when it gets SIGUSR2.
    await eventually(stats_path.exists, within=30, what=f"{stats_path} written")
    stats = pstats.Stats(str(stats_path))
    print(f"\ncProfile ({count} creates; ms per create are inflated by the profiler)")
    stats.sort_stats("tottime").print_stats(40)
    stats.sort_stats("cumulative").print_stats(80)


STAGES_SQL = """
    SELECT message_id, convert_from(payload, 'UTF8')::json -> 'data' ->> 'reservation_id' AS rid,
           message_type, created_at, published_at
    FROM outbox WHERE message_type = ANY($1)
"""


async def stage_latencies(stack: Stack, since: datetime) -> None:
    """Where a create's time goes between the services, from the outbox and inbox rows.

    commit → published (the relay), published → consumed (the broker and the fetch
    wait), consumed → answer queued (the consumer's batch), for each hop.
    """

    async def rows(service: str, query: str, *args: object) -> list[asyncpg.Record]:
        url = make_url(stack.database_urls[service]).set(drivername="postgresql")
        connection = await asyncpg.connect(url.render_as_string(hide_password=False))
        try:
            return list(await connection.fetch(query, *args))
        finally:
            await connection.close()

    commands = {
        row["rid"]: row
        for row in await rows("reservations", STAGES_SQL, ["boxoffice.inventory.HoldSeats.v1"])
        if row["created_at"] >= since
    }
    answers = {
        row["rid"]: row
        for row in await rows("inventory", STAGES_SQL, ["boxoffice.inventory.SeatsHeld.v1"])
    }
    received = {
        service: {
            row["message_id"]: row["received_at"]
            for row in await rows(service, "SELECT message_id, received_at FROM inbox")
        }
        for service in ("inventory", "reservations")
    }
    spans: dict[str, list[float]] = {
        "reservations: commit → HoldSeats published": [],
        "HoldSeats published → inventory consumed": [],
        "inventory consumed → SeatsHeld committed": [],
        "inventory: commit → SeatsHeld published": [],
        "SeatsHeld published → reservations consumed": [],
        "commit of the create → reservations consumed SeatsHeld": [],
    }
    for rid, command in commands.items():
        answer = answers.get(rid)
        if answer is None or command["published_at"] is None or answer["published_at"] is None:
            continue
        at_inventory = received["inventory"].get(command["message_id"])
        back = received["reservations"].get(answer["message_id"])
        if at_inventory is None or back is None:
            continue
        marks = [
            command["created_at"],
            command["published_at"],
            at_inventory,
            answer["created_at"],
            answer["published_at"],
            back,
        ]
        for name, start, end in zip(spans, marks, marks[1:], strict=False):
            spans[name].append((end - start).total_seconds() * 1000)
        spans["commit of the create → reservations consumed SeatsHeld"].append(
            (back - command["created_at"]).total_seconds() * 1000
        )
    print(f"\n| stage ({len(commands)} creates) | p50 ms | p95 ms | p99 ms |")
    print("| --- | --- | --- | --- |")
    for name, values in spans.items():
        print(
            f"| {name} | {percentile(values, 0.5):.1f} | {percentile(values, 0.95):.1f} "
            f"| {percentile(values, 0.99):.1f} |"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--seats", type=int, default=1)
    parser.add_argument("--reservations-replicas", type=int, default=1)
    parser.add_argument("--py-spy", metavar="SERVICE", help="record this service with py-spy")
    parser.add_argument(
        "--py-spy-format",
        default="flamegraph",
        choices=("flamegraph", "raw", "speedscope"),
        help="raw: collapsed stacks, one line each (for grep and scripts)",
    )
    parser.add_argument(
        "--cprofile", metavar="SERVICE", help="run this service under cProfile (slower)"
    )
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        broker = TansuBroker(log_dir=tmp).start()
        try:
            async with (
                httpx.AsyncClient(timeout=60) as client,
                running_stack(
                    broker.bootstrap_servers,
                    Path(tmp),
                    replicas={"reservations": args.reservations_replicas},
                ) as stack,
            ):
                stats_path = RESULTS / f"cprofile-{args.cprofile}.pstats"
                if args.cprofile:
                    start_profiled(stack.processes[args.cprofile][0], stats_path)
                    await stack.processes[args.cprofile][0].wait_ready()
                scale = Scale(args.seconds, (args.clients,), 0, 0, 0, 0, 0, 0)
                bench = Bench(stack, client, scale)
                slug, category_id = await bench.create_event(500_000)
                calls = [
                    bench.create_call(
                        f"{stack.url('reservations', replica)}/v1/events/{slug}/reservations",
                        category_id,
                        args.seats,
                    )
                    for replica in range(args.reservations_replicas)
                ]
                turn = 0

                async def create() -> int:
                    nonlocal turn
                    turn += 1
                    return await calls[turn % len(calls)]()

                await bench.closed_loop(args.clients, 2.0, create)  # warm up
                processes = {
                    f"{name}-{replica}": psutil.Process(service.process.pid)
                    for name, group in stack.processes.items()
                    for replica, service in enumerate(group)
                    if service.process is not None
                }
                processes["broker"] = psutil.Process(broker.pid)
                processes["client"] = psutil.Process()
                spy = None
                if args.py_spy:
                    target = stack.processes[args.py_spy][0].process
                    if target is None:
                        raise RuntimeError(f"{args.py_spy} is not running")
                    suffix = {"flamegraph": "svg", "raw": "txt", "speedscope": "json"}
                    spy = start_py_spy(
                        target.pid,
                        args.seconds,
                        args.py_spy_format,
                        RESULTS / f"profile-{args.py_spy}.{suffix[args.py_spy_format]}",
                    )
                before = {
                    name: cpu_seconds(process, children=name != "client")
                    for name, process in processes.items()
                }
                before["postgresql"] = postgres_cpu()
                wall = time.perf_counter()
                since = datetime.now(UTC)
                if args.cprofile:
                    stack.processes[args.cprofile][0].signal(signal.SIGUSR1)
                latencies, statuses, elapsed = await bench.closed_loop(
                    args.clients, args.seconds, create
                )
                wall = time.perf_counter() - wall
                after = {
                    name: cpu_seconds(process, children=name != "client")
                    for name, process in processes.items()
                }
                after["postgresql"] = postgres_cpu()
                if spy is not None:
                    spy.wait()
                if args.cprofile:
                    stack.processes[args.cprofile][0].signal(signal.SIGUSR2)
                summary = latency_summary(latencies, elapsed)
                count = max(1, int(summary["count"]))
                print(
                    f"{args.seats}-seat creates, {args.clients} clients: "
                    f"{summary['per_second']:.1f}/s p50 {summary['p50_ms']:.0f} "
                    f"p95 {summary['p95_ms']:.0f} p99 {summary['p99_ms']:.0f} ms {dict(statuses)}"
                )
                print("| process | CPU % of one core | CPU ms per create |\n| --- | --- | --- |")
                total = 0.0
                for name in after:
                    spent = after[name] - before[name]
                    total += spent
                    print(f"| {name} | {100 * spent / wall:.0f} | {1000 * spent / count:.2f} |")
                print(f"| all | {100 * total / wall:.0f} | {1000 * total / count:.2f} |")
                await bench.close()
                await stage_latencies(stack, since)
                if args.cprofile:
                    await print_stats(stats_path, count)
        finally:
            broker.stop()


if __name__ == "__main__":
    asyncio.run(main())
