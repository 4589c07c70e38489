"""The real system as processes, for cross-service tests and benchmarks.

Every service runs as its own ``python -m boxoffice.<service>`` process on its own
PostgreSQL database, against the session's broker and an SMTP sink started here.
Services can be killed (any signal) and started again, optionally as several replicas.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx

from boxoffice.devstack.broker import free_port, tansu_fetch_settings
from boxoffice.devstack.mailsink import MailSink
from boxoffice.devstack.polling import eventually as eventually
from boxoffice.devstack.token import mint_token

SERVICES = ("inventory", "reservations", "notifications")
JWT_SECRET = "e2e-test-secret-that-is-long-enough-for-hs256"  # noqa: S105 - test stacks only


@dataclass
class ServiceProcess:
    """One replica of one service."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The replica's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Launch the process (output to its log file)."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
            [sys.executable, "-m", f"boxoffice.{self.name}"],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def signal(self, signum: int) -> None:
        """Send a signal (SIGKILL to crash it, SIGSTOP to freeze it)."""
        if self.process is None:
            raise RuntimeError(f"{self.name} was never started")
        self.process.send_signal(signum)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop gracefully, or kill after ``timeout``."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """Crash it: SIGKILL, no shutdown code runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    async def wait_ready(self, within: float = 60.0) -> None:
        """Poll ``/health/ready`` until it answers 200."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                if self.process is None or self.process.poll() is not None:
                    raise AssertionError(f"{self.name} is not running; see {self.log_path}")
                try:
                    if (await client.get(f"{self.url}/health/ready")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.name} not ready within {within}s")
                await asyncio.sleep(0.1)


@dataclass
class Stack:
    """Inventory, reservations and notifications as processes, with an SMTP sink."""

    bootstrap: str
    database_urls: dict[str, str]
    workdir: Path
    replicas: dict[str, int] = field(default_factory=dict)
    settings: dict[str, dict[str, str]] = field(default_factory=dict)
    processes: dict[str, list[ServiceProcess]] = field(default_factory=dict)
    mail: MailSink | None = None
    topic_suffix: str = field(default_factory=lambda: f"-e2e{uuid.uuid4().hex[:8]}")

    def token(self, org: str = "acme", sub: str = "organizer@e2e") -> str:
        """A valid backoffice token for ``org``."""
        return mint_token(JWT_SECRET, sub=sub, org=org, roles=["organizer"], ttl=timedelta(hours=1))

    def headers(self, org: str = "acme") -> dict[str, str]:
        """Authorization headers for ``org``."""
        return {"Authorization": f"Bearer {self.token(org)}"}

    def url(self, name: str, replica: int = 0) -> str:
        """Base URL of a replica of a service."""
        return self.processes[name][replica].url

    def _env(self, name: str, port: int) -> dict[str, str]:
        prefix = f"BOXOFFICE_{name.upper()}_"
        if self.mail is None:
            raise RuntimeError("start the mail sink before the services")
        env = {
            "ENVIRONMENT": "test",
            "JWT_SECRET": JWT_SECRET,
            "DATABASE_URL": self.database_urls[name],
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_TOPIC_SUFFIX": self.topic_suffix,
            "KAFKA_PARTITIONS": "3",
            "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "KAFKA_HEARTBEAT_INTERVAL_MS": "600",
            **tansu_fetch_settings(name),
            "HTTP_PORT": str(port),
            "LOG_LEVEL": "INFO",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.mail.port),
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            **self.settings.get(name, {}),
        }
        return {f"{prefix}{key}": value for key, value in env.items()}

    async def start(self) -> None:
        """Start the mail sink and every replica, then wait until all are ready."""
        self.mail = MailSink(port=0, directory=str(self.workdir / "mail")).start()
        for name in SERVICES:
            for replica in range(self.replicas.get(name, 1)):
                port = free_port()
                service = ServiceProcess(
                    name, port, self._env(name, port), self.workdir / f"{name}-{replica}.log"
                )
                service.start()
                self.processes.setdefault(name, []).append(service)
        await asyncio.gather(
            *(service.wait_ready() for group in self.processes.values() for service in group)
        )

    async def restart(self, name: str, replica: int = 0) -> None:
        """Start a stopped or killed replica again on the same port."""
        service = self.processes[name][replica]
        service.stop()
        service.start()
        await service.wait_ready()

    def stop(self) -> None:
        """Stop every process and the sink."""
        for group in self.processes.values():
            for service in group:
                service.stop()
        if self.mail is not None:
            self.mail.stop()

    def logs(self) -> str:
        """The tail of every service log (for assertion messages)."""
        parts: list[str] = []
        for group in self.processes.values():
            for service in group:
                text = (
                    service.log_path.read_text(errors="replace")
                    if service.log_path.exists()
                    else ""
                )
                parts.append(f"--- {service.log_path.name}\n{text[-3000:]}")
        return "\n".join(parts)
