"""Tansu broker wrapper: readiness, round trip, stop, suspend and orphan protection."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from boxoffice.devstack.broker import (
    BrokerStartError,
    PortInUseError,
    TansuBroker,
    free_port,
    kafka_ready,
    port_is_free,
)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    """A Tansu broker shared by this module's tests."""
    with TansuBroker(log_dir=tmp_path_factory.mktemp("tansu")) as running:
        yield running


def _wait_gone(pid: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while psutil.pid_exists(pid):
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"pid {pid} still alive")
        time.sleep(0.05)


async def test_produce_and_consume_round_trip(broker: TansuBroker) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("devstack.roundtrip", 1, 1)])
        assert "devstack.roundtrip" in await admin.list_topics()
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait("devstack.roundtrip", b"hello", key=b"k1")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        "devstack.roundtrip",
        bootstrap_servers=broker.bootstrap_servers,
        group_id="devstack-test",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"k1", b"hello")


def test_exposes_address_pid_and_log(broker: TansuBroker) -> None:
    assert broker.bootstrap_servers == f"127.0.0.1:{broker.port}"
    assert broker.running
    assert "tansu" in " ".join(psutil.Process(broker.pid).cmdline())
    assert "tansu broker" in broker.log_path.read_text()


def test_stop_frees_the_port_and_restart_forgets(tmp_path: Path) -> None:
    broker = TansuBroker(log_dir=tmp_path, stop_timeout=5)
    broker.start()
    pid = broker.pid
    assert not port_is_free(broker.host, broker.port)

    async def create_topic() -> list[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
        await admin.start()
        try:
            await admin.create_topics([NewTopic("devstack.ephemeral", 1, 1)])
            topics: list[str] = await admin.list_topics()
            return topics
        finally:
            await admin.close()

    assert "devstack.ephemeral" in asyncio.run(create_topic())
    assert broker.stop() == 0
    assert not broker.running
    assert not psutil.pid_exists(pid)
    assert port_is_free(broker.host, broker.port)
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect((broker.host, broker.port))

    # Same port again, and memory storage starts from scratch.
    with broker:
        assert broker.pid != pid

        async def list_topics() -> list[str]:
            admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
            await admin.start()
            try:
                topics: list[str] = await admin.list_topics()
                return topics
            finally:
                await admin.close()

        assert "devstack.ephemeral" not in asyncio.run(list_topics())
    assert broker.stop() == 0  # idempotent


async def test_suspend_and_resume(tmp_path: Path) -> None:
    broker = await TansuBroker(log_dir=tmp_path).astart()
    try:
        broker.suspend()
        assert psutil.Process(broker.pid).status() == psutil.STATUS_STOPPED
        assert not await kafka_ready(broker.bootstrap_servers, request_timeout=0.5)
        broker.resume()
        assert await kafka_ready(broker.bootstrap_servers)
        # A suspended broker must still stop promptly.
        broker.suspend()
    finally:
        assert await asyncio.to_thread(broker.stop, 5) is not None
    assert port_is_free(broker.host, broker.port)


def test_busy_port_is_refused(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port}"):
            TansuBroker(port=port, log_dir=tmp_path).start()


def test_broker_that_exits_fails_start(tmp_path: Path) -> None:
    broker = TansuBroker(log_dir=tmp_path, binary="/bin/false", startup_timeout=10)
    with pytest.raises(BrokerStartError, match="exited with code 1"):
        broker.start()
    assert not broker.running


def test_broker_dies_with_its_parent(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux-only")
    script = textwrap.dedent(
        f"""
        import sys, time
        from boxoffice.devstack.broker import TansuBroker
        broker = TansuBroker(log_dir={str(tmp_path)!r}).start()
        print(broker.pid, flush=True)
        sys.stdin.read()
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line.strip(), "parent did not report the broker pid"
        broker_pid = int(line)
        assert psutil.pid_exists(broker_pid)
    finally:
        # SIGKILL: no cleanup code runs in the parent, only the kernel's death signal.
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    _wait_gone(broker_pid)


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 0 < port < 65536
    assert port_is_free("127.0.0.1", port)
