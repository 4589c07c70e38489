"""``make run``: the whole stack on one machine, honcho-style.

Starts Tansu, the SMTP sink and the three services, prefixes each service's
output with its name on the terminal (and copies it to ``<data>/logs``), waits
until every service answers ``/health/ready``, prints a banner, and stops
everything on SIGINT/SIGTERM or as soon as one service dies on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Final, TextIO, TypeVar

import httpx

from boxoffice.devstack._proc import (
    PortInUseError,
    child_preexec,
    descendants,
    kill_leftovers,
    port_is_free,
    signal_group,
)
from boxoffice.devstack.broker import BrokerStartError, TansuBroker, tansu_fetch_settings
from boxoffice.devstack.mailsink import MailSink
from boxoffice.devstack.seed_data import SAMPLE_EVENT_SLUG, load_sample_event
from boxoffice.devstack.token import mint_token

__all__ = [
    "DEFAULT_SERVICE_PORTS",
    "Launcher",
    "LauncherConfig",
    "ServiceSpec",
    "default_services",
    "load_or_create_secret",
    "main",
    "run_stack",
]

DEFAULT_SERVICE_PORTS: Final[Mapping[str, int]] = {
    "inventory": 8001,
    "reservations": 8002,
    "notifications": 8003,
}
DEV_SUBJECT: Final = "dev"
DEV_ORG: Final = "demo"
DEV_ROLES: Final = ("organizer", "admin")
DEV_TOKEN_TTL: Final = timedelta(days=30)

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_PORT_BUSY: Final = 2

_COLOURS: Final = ("36", "33", "35", "32", "34", "91", "96", "93")
_READY_POLL: Final = 0.2
_READ_CHUNK: Final = 65536

_T = TypeVar("_T")


@dataclass(frozen=True)
class ServiceSpec:
    """One child process of the stack.

    Args:
        name: Short name used as output prefix and log file name.
        target: A module name (run as ``sys.executable -m target``) or a full argv.
        port: HTTP port; ``/health/ready`` on it must answer 200 once started.
        env: Variables added to (and overriding) the launcher's environment.
        health_path: Readiness endpoint.
    """

    name: str
    target: str | Sequence[str]
    port: int
    env: Mapping[str, str] = field(default_factory=dict)
    health_path: str = "/health/ready"

    def __post_init__(self) -> None:
        if not isinstance(self.target, str):
            # Freeze the argv so the spec stays hashable and immutable.
            object.__setattr__(self, "target", tuple(self.target))
            if not self.target:
                raise ValueError(f"service {self.name!r}: empty argv")

    @property
    def command(self) -> list[str]:
        """The argv that starts the service."""
        if isinstance(self.target, str):
            return [sys.executable, "-m", self.target]
        return list(self.target)


@dataclass(frozen=True)
class LauncherConfig:
    """Where and how the stack runs.

    Args:
        data_dir: Folder for databases, logs, mail, the dev secret and token.
        host: Address every component listens on.
        broker_port: Tansu's port.
        smtp_port: Mail sink's port.
        service_ports: Port of each default service (ignored for injected services).
        ready_timeout: Seconds the services get to answer ``/health/ready``.
        broker_timeout: Seconds Tansu gets to answer the Kafka protocol.
        stop_timeout: Seconds between SIGTERM and SIGKILL when stopping.
        color: Colour the prefixes; auto-detected from the terminal when None.
    """

    data_dir: Path = Path(".data")
    host: str = "127.0.0.1"
    broker_port: int = 9092
    smtp_port: int = 1025
    service_ports: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_SERVICE_PORTS))
    ready_timeout: float = 60.0
    broker_timeout: float = 30.0
    stop_timeout: float = 10.0
    color: bool | None = None

    @classmethod
    def from_env(
        cls, data_dir: str | os.PathLike[str] = ".data", environ: Mapping[str, str] | None = None
    ) -> LauncherConfig:
        """Build the default configuration; ports can be moved by the environment.

        ``BOXOFFICE_BROKER_PORT``, ``BOXOFFICE_SMTP_PORT`` and
        ``BOXOFFICE_<SERVICE>_PORT`` (INVENTORY, RESERVATIONS, NOTIFICATIONS) override
        the defaults, so a second stack (or a test) can run beside ``make run``.

        Args:
            data_dir: Data folder.
            environ: Environment to read (``os.environ`` when None).

        Returns:
            The configuration.

        Raises:
            ValueError: one of the variables is not a port number.
        """
        env = os.environ if environ is None else environ

        def port(name: str, default: int) -> int:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            value = int(raw) if raw.isdigit() else 0
            if not 0 < value < 65536:
                raise ValueError(f"{name}={raw!r} is not a TCP port")
            return value

        return cls(
            data_dir=Path(data_dir),
            broker_port=port("BOXOFFICE_BROKER_PORT", 9092),
            smtp_port=port("BOXOFFICE_SMTP_PORT", 1025),
            service_ports={
                name: port(f"BOXOFFICE_{name.upper()}_PORT", default)
                for name, default in DEFAULT_SERVICE_PORTS.items()
            },
        )


def default_services(
    config: LauncherConfig, *, bootstrap_servers: str, jwt_secret: str
) -> list[ServiceSpec]:
    """The three real services, wired to the dev broker, sink and data folder.

    Args:
        config: Stack configuration (data folder, host, ports).
        bootstrap_servers: Broker address handed to the services.
        jwt_secret: HS256 secret shared by the services.

    Returns:
        Specs for inventory, reservations and notifications.
    """
    data_dir = config.data_dir.resolve()
    specs = []
    for name, port in config.service_ports.items():
        prefix = f"BOXOFFICE_{name.upper()}_"
        env = {
            f"{prefix}ENVIRONMENT": "development",
            f"{prefix}DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / f'{name}.db'}",
            f"{prefix}KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
            f"{prefix}HTTP_PORT": str(port),
            f"{prefix}JWT_SECRET": jwt_secret,
            **{f"{prefix}{key}": value for key, value in tansu_fetch_settings(name).items()},
        }
        if name == "notifications":
            env[f"{prefix}SMTP_HOST"] = config.host
            env[f"{prefix}SMTP_PORT"] = str(config.smtp_port)
        if name == "reservations":
            env[f"{prefix}PUBLIC_BASE_URL"] = f"http://{config.host}:{port}"
        specs.append(ServiceSpec(name, f"boxoffice.{name}", port, env))
    return specs


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` atomically to ``path`` readable by the owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    tmp.replace(path)


def load_or_create_secret(path: Path) -> str:
    """Return the development JWT secret, generating it on first use.

    Args:
        path: The secret file (``<data>/dev-secret``).

    Returns:
        The secret; the same on every later run.
    """
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    secret = secrets.token_urlsafe(48)
    _write_private(path, secret + "\n")
    return secret


@dataclass
class _Child:
    spec: ServiceSpec
    proc: asyncio.subprocess.Process
    log: IO[bytes]
    exited: asyncio.Task[int]
    reader: asyncio.Task[None] | None = None
    ready: bool = False


class Launcher:
    """Runs the stack until a signal arrives or a service dies.

    Args:
        config: Stack configuration.
        services: Children to run instead of the three real services (tests use
            stand-ins); :func:`default_services` when None.
        out: Stream for prefixed output and the banner (stdout when None).
        err: Stream for fatal messages (stderr when None).
    """

    def __init__(
        self,
        config: LauncherConfig,
        services: Sequence[ServiceSpec] | None = None,
        *,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.config = dataclasses.replace(config, data_dir=config.data_dir.resolve())
        self._injected = list(services) if services is not None else None
        self._out = out if out is not None else sys.stdout
        self._err = err if err is not None else sys.stderr
        colour = self.config.color
        if colour is None:
            colour = self._out.isatty() and "NO_COLOR" not in os.environ
        self._colour = colour
        self._broker: TansuBroker | None = None
        self._sink: MailSink | None = None
        self._children: list[_Child] = []
        self._width = 8
        self._stop_requested = asyncio.Event()
        self._force = asyncio.Event()
        self._token = ""

    @property
    def data_dir(self) -> Path:
        """Absolute data folder."""
        return self.config.data_dir

    @property
    def logs_dir(self) -> Path:
        """Folder of the per-component log files."""
        return self.data_dir / "logs"

    @property
    def mail_dir(self) -> Path:
        """Folder where the sink stores ``.eml`` files."""
        return self.data_dir / "mail"

    async def run(self) -> int:
        """Start everything, supervise, stop everything.

        Returns:
            0 after a requested stop, 2 when a port was taken, 1 on any other failure
            (or the exit code of the service that died).
        """
        loop = asyncio.get_running_loop()
        # Handlers are installed first so that Ctrl-C during startup still
        # goes through the orderly shutdown below.
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            return await self._run()
        finally:
            try:
                await self._shutdown()
            finally:
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(signum)

    def _on_signal(self, signum: int) -> None:
        if self._stop_requested.is_set():
            self._say("devstack", "second signal: killing everything now")
            self._force.set()
            return
        self._say("devstack", f"{signal.Signals(signum).name} received, stopping")
        self._stop_requested.set()

    def _prepare_data_dir(self) -> str:
        """Create the folders, load the secret, write a fresh dev token; return the secret."""
        for folder in (self.data_dir, self.logs_dir, self.mail_dir):
            folder.mkdir(parents=True, exist_ok=True)
        secret = load_or_create_secret(self.data_dir / "dev-secret")
        self._token = mint_token(
            secret,
            sub=DEV_SUBJECT,
            org=DEV_ORG,
            roles=list(DEV_ROLES),
            ttl=DEV_TOKEN_TTL,
        )
        _write_private(self.data_dir / "dev-token", self._token + "\n")
        return secret

    async def _run(self) -> int:
        cfg = self.config
        secret = self._prepare_data_dir()
        bootstrap = f"{cfg.host}:{cfg.broker_port}"
        services = (
            self._injected
            if self._injected is not None
            else default_services(cfg, bootstrap_servers=bootstrap, jwt_secret=secret)
        )
        self._width = max([8, *(len(s.name) for s in services)])

        wanted = [(cfg.broker_port, "Kafka broker"), (cfg.smtp_port, "SMTP mail sink")]
        wanted += [(s.port, f"service {s.name}") for s in services]
        busy = [(port, what) for port, what in wanted if not port_is_free(cfg.host, port)]
        if busy:
            for port, what in busy:
                self._fatal(
                    f"port {port} on {cfg.host} ({what}) is already in use; "
                    "is another stack still running? Free the port and retry."
                )
            return EXIT_PORT_BUSY

        self._broker = TansuBroker(
            host=cfg.host,
            port=cfg.broker_port,
            log_dir=self.logs_dir,
            log_name="broker.log",
            startup_timeout=cfg.broker_timeout,
            stop_timeout=cfg.stop_timeout,
        )
        self._say("broker", f"starting Tansu on {bootstrap} (log: {self._broker.log_path})")
        try:
            self._broker.launch()
            if not await self._unless_stopped(self._broker.wait_ready_async()):
                return EXIT_OK
        except PortInUseError as exc:
            self._fatal(str(exc))
            return EXIT_PORT_BUSY
        except (BrokerStartError, OSError) as exc:
            self._fatal(str(exc))
            return EXIT_FAILED
        self._say("broker", f"ready on {bootstrap}")

        try:
            self._sink = MailSink(cfg.host, cfg.smtp_port, self.mail_dir).start()
        except PortInUseError as exc:
            self._fatal(str(exc))
            return EXIT_PORT_BUSY
        except OSError as exc:
            self._fatal(f"mail sink could not start on {cfg.host}:{cfg.smtp_port}: {exc}")
            return EXIT_FAILED
        self._say("mail", f"SMTP sink on {cfg.host}:{cfg.smtp_port} -> {self.mail_dir}")

        for spec in services:
            if self._stop_requested.is_set():
                return EXIT_OK
            try:
                await self._spawn(spec)
            except OSError as exc:
                self._fatal(f"cannot start {spec.name} ({' '.join(spec.command)}): {exc}")
                return EXIT_FAILED

        outcome = await self._supervise_startup()
        if outcome is not None:
            return outcome
        if self._injected is None and not await self._unless_stopped(self._load_sample_event()):
            return EXIT_OK
        self._banner(bootstrap)
        return await self._supervise()

    async def _load_sample_event(self) -> None:
        """Create the user guide's sample event when inventory has no event yet."""
        inventory = self.config.service_ports.get("inventory")
        if inventory is None:
            return
        url = f"http://{self.config.host}:{inventory}"
        try:
            async with httpx.AsyncClient(timeout=10.0, trust_env=False) as client:
                created = await load_sample_event(client, url, self._token, now=datetime.now(UTC))
        except httpx.HTTPError as exc:
            self._say("devstack", f"the sample event could not be loaded: {exc}")
            return
        if created:
            self._say(
                "devstack", f"loaded the sample event {SAMPLE_EVENT_SLUG!r} (My Awesome Event)"
            )

    async def _unless_stopped(self, awaitable: Awaitable[_T]) -> bool:
        """Await ``awaitable`` unless a stop is requested first (then cancel it)."""
        task = asyncio.ensure_future(awaitable)
        stop = asyncio.ensure_future(self._stop_requested.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if task.done():
            task.result()
            return True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False

    async def _spawn(self, spec: ServiceSpec) -> None:
        log = _open_log(self.logs_dir / f"{spec.name}.log", spec.command)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **spec.env}
        try:
            proc = await asyncio.create_subprocess_exec(
                *spec.command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                process_group=0,
                preexec_fn=child_preexec(),
            )
        except BaseException:
            log.close()
            raise
        child = _Child(spec, proc, log, asyncio.create_task(proc.wait()))
        child.reader = asyncio.create_task(self._pump(child))
        self._children.append(child)
        self._say(spec.name, f"started pid {proc.pid}: {' '.join(spec.command)}")

    async def _pump(self, child: _Child) -> None:
        """Copy a child's output to the terminal (prefixed) and to its log file."""
        stream = child.proc.stdout
        if stream is None:
            return
        pending = b""
        while chunk := await stream.read(_READ_CHUNK):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self._emit(child, line)
        if pending:
            self._emit(child, pending)

    def _emit(self, child: _Child, line: bytes) -> None:
        with contextlib.suppress(OSError, ValueError):
            child.log.write(line + b"\n")
            child.log.flush()
        self._say(child.spec.name, line.rstrip(b"\r").decode("utf-8", errors="replace"))

    async def _supervise_startup(self) -> int | None:
        """Wait for every service to be ready; an exit code when startup fails."""
        ready = asyncio.create_task(self._wait_all_ready())
        died = asyncio.create_task(self._first_exit())
        stop = asyncio.create_task(self._stop_requested.wait())
        try:
            await asyncio.wait({ready, died, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (ready, died, stop):
                task.cancel()
        if died.done() and not died.cancelled():
            return self._report_death(died.result())
        if stop.done() and not stop.cancelled():
            return EXIT_OK
        if ready.done() and not ready.cancelled() and ready.result():
            return None
        missing = [c for c in self._children if not c.ready]
        for child in missing:
            self._fatal(
                f"{child.spec.name} did not answer 200 on "
                f"{self._url(child.spec)}{child.spec.health_path} within "
                f"{self.config.ready_timeout:g}s; see {self.logs_dir / (child.spec.name + '.log')}"
            )
        return EXIT_FAILED

    async def _wait_all_ready(self) -> bool:
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
            try:
                async with asyncio.timeout(self.config.ready_timeout):
                    await asyncio.gather(
                        *(self._wait_ready(client, child, started) for child in self._children)
                    )
            except TimeoutError:
                return False
        return True

    async def _wait_ready(self, client: httpx.AsyncClient, child: _Child, started: float) -> None:
        url = f"{self._url(child.spec)}{child.spec.health_path}"
        while True:
            with contextlib.suppress(httpx.TransportError):
                response = await client.get(url)
                if response.status_code == 200:
                    child.ready = True
                    self._say(child.spec.name, f"ready after {time.monotonic() - started:.1f}s")
                    return
            await asyncio.sleep(_READY_POLL)

    async def _first_exit(self) -> _Child:
        by_task = {child.exited: child for child in self._children}
        done, _ = await asyncio.wait(by_task, return_when=asyncio.FIRST_COMPLETED)
        return by_task[next(iter(done))]

    async def _supervise(self) -> int:
        died = asyncio.create_task(self._first_exit())
        stop = asyncio.create_task(self._stop_requested.wait())
        try:
            await asyncio.wait({died, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            died.cancel()
            stop.cancel()
        if died.done() and not died.cancelled():
            return self._report_death(died.result())
        return EXIT_OK

    def _report_death(self, child: _Child) -> int:
        code = child.proc.returncode
        self._fatal(f"{child.spec.name} exited on its own with code {code}; stopping the stack")
        return code if code is not None and code > 0 else EXIT_FAILED

    async def _shutdown(self) -> None:
        children, self._children = self._children, []
        if children:
            await asyncio.gather(*(self._stop_child(child) for child in children))
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.stop()
            self._say("mail", "stopped")
        broker, self._broker = self._broker, None
        if broker is not None and broker.running:
            await asyncio.to_thread(broker.stop, self.config.stop_timeout)
            self._say("broker", "stopped")

    async def _stop_child(self, child: _Child) -> None:
        proc = child.proc
        if proc.returncode is None:
            leftovers = descendants(proc.pid)
            signal_group(proc.pid, signal.SIGTERM)
            force = asyncio.create_task(self._force.wait())
            await asyncio.wait(
                {child.exited, force},
                timeout=self.config.stop_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
            force.cancel()
            if not child.exited.done():
                self._say(child.spec.name, "still running, sending SIGKILL")
                signal_group(proc.pid, signal.SIGKILL)
            await child.exited
            kill_leftovers(leftovers)
            self._say(child.spec.name, f"stopped (exit code {proc.returncode})")
        else:
            await child.exited
        # Whatever is left in the child's process group (it may have spawned
        # helpers) must not outlive the stack; the group id cannot be recycled
        # while members remain, so this never hits a stranger.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if child.reader is not None:
            try:
                await asyncio.wait_for(child.reader, timeout=2.0)
            except TimeoutError:
                child.reader.cancel()
        child.log.close()

    def _url(self, spec: ServiceSpec) -> str:
        return f"http://{self.config.host}:{spec.port}"

    def _banner(self, bootstrap: str) -> None:
        rule = "=" * 72
        rows = [
            (c.spec.name, f"{self._url(c.spec)}   docs: {self._url(c.spec)}/docs")
            for c in self._children
        ]
        reservations = next((c for c in self._children if c.spec.name == "reservations"), None)
        if reservations is not None:
            rows.append(
                (
                    "backoffice",
                    f"{self._url(reservations.spec)}/backoffice/   (sign in with the token below)",
                )
            )
        rows += [
            ("broker", f"{bootstrap}   (Tansu, in-memory: a restart forgets every message)"),
            ("mail", f"smtp://{self.config.host}:{self.config.smtp_port} -> {self.mail_dir}"),
            ("logs", str(self.logs_dir)),
            (
                "token",
                f"{self.data_dir / 'dev-token'}   (sub={DEV_SUBJECT} org={DEV_ORG} "
                f"roles={','.join(DEV_ROLES)}, valid {DEV_TOKEN_TTL.days} days)",
            ),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [rule, "boxoffice dev stack is up", ""]
        lines += [f"  {name:<{width}}  {value}" for name, value in rows]
        lines += ["", "Authorization: Bearer " + self._token, "", "Press Ctrl-C to stop.", rule]
        self._write("\n".join(lines) + "\n")

    def _say(self, name: str, text: str) -> None:
        prefix = f"{name:<{self._width}} |"
        if self._colour:
            colour = _COLOURS[sum(name.encode()) % len(_COLOURS)]
            prefix = f"\x1b[{colour}m{prefix}\x1b[0m"
        self._write(f"{prefix} {text}\n")

    def _fatal(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._err.write(f"devstack: {text}\n")
            self._err.flush()

    def _write(self, text: str) -> None:
        # A closed terminal or pipe must not abort the shutdown sequence.
        with contextlib.suppress(OSError, ValueError):
            self._out.write(text)
            self._out.flush()


def _open_log(path: Path, argv: Sequence[str]) -> IO[bytes]:
    log = path.open("ab")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    log.write(f"--- {stamp} starting: {' '.join(argv)}\n".encode())
    log.flush()
    return log


def run_stack(
    config: LauncherConfig,
    services: Sequence[ServiceSpec] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run :class:`Launcher` in a fresh event loop (blocks until the stack stops).

    Args:
        config: Stack configuration.
        services: Children to run instead of the real services.
        out: Stream for prefixed output and the banner.
        err: Stream for fatal messages.

    Returns:
        The launcher's exit code.
    """
    return asyncio.run(Launcher(config, services, out=out, err=err).run())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m boxoffice.devstack``.

    Args:
        argv: Command-line arguments (``sys.argv[1:]`` when None).

    Returns:
        Process exit code.
    """
    parser = argparse.ArgumentParser(
        prog="python -m boxoffice.devstack", description="boxoffice local development stack."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="start broker, mail sink and the three services",
        description="Start Tansu, the SMTP sink and the services until Ctrl-C. "
        "The broker port can be changed with BOXOFFICE_BROKER_PORT.",
    )
    run.add_argument("--data-dir", default=".data", help="state folder (default: .data)")
    args = parser.parse_args(argv)
    try:
        config = LauncherConfig.from_env(args.data_dir)
    except ValueError as exc:
        parser.error(str(exc))
    return run_stack(config)
