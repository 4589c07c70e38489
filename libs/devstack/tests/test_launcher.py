"""Launcher tests, run against stand-in services in a separate launcher process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import psutil
import pytest

from boxoffice.devstack.broker import free_port, port_is_free
from boxoffice.devstack.launcher import (
    LauncherConfig,
    ServiceSpec,
    default_services,
    load_or_create_secret,
)

# A stand-in for a service: answers /health/ready, echoes an env var, and can
# be told to die (GET /exit) to play a crashing service.
STANDIN_SOURCE = r"""
import http.server
import os
import sys

port = int(sys.argv[1])
mode = sys.argv[2] if len(sys.argv) > 2 else "serve"
print(f"standin on {port} mode={mode} greeting={os.environ.get('STANDIN_GREETING')}", flush=True)
if mode == "exit-now":
    sys.exit(4)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health/ready":
            self.send_response(503 if mode == "never-ready" else 200)
            self.end_headers()
            self.wfile.write(b"ok")
        elif self.path == "/exit":
            self.send_response(200)
            self.end_headers()
            self.wfile.flush()
            print("standin exiting on request", flush=True)
            os._exit(3)
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, fmt, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""

# Runs the launcher with stand-in services, parameterised by a JSON argument.
DRIVER_SOURCE = r"""
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from boxoffice.devstack.launcher import LauncherConfig, ServiceSpec, run_stack

cfg = json.loads(sys.argv[1])
services = [
    ServiceSpec(
        s["name"],
        s.get("argv") or [sys.executable, cfg["standin"], str(s["port"]), s.get("mode", "serve")],
        s["port"],
        {"STANDIN_GREETING": "hello-" + s["name"]},
    )
    for s in cfg["services"]
]
config = LauncherConfig(
    data_dir=Path(cfg["data_dir"]),
    broker_port=cfg["broker_port"],
    smtp_port=cfg["smtp_port"],
    ready_timeout=cfg.get("ready_timeout", 60.0),
    stop_timeout=cfg.get("stop_timeout", 10.0),
    color=False,
)
sys.exit(run_stack(config, services))
"""


class OutputCollector:
    """Collects a pipe's lines from a thread so tests can wait for one with a deadline."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        assert hasattr(stream, "readline")
        for line in iter(stream.readline, ""):
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def text(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_for(self, needle: str, timeout: float = 60.0) -> str:
        """Return the first line containing ``needle``; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if needle in line:
                        return line
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    raise AssertionError(
                        f"{needle!r} not seen (closed={self._closed}); output:\n"
                        + "\n".join(self.lines)
                    )
                self._cond.wait(remaining)

    def join(self, timeout: float = 10.0) -> None:
        self._thread.join(timeout)


class LauncherProcess:
    """A launcher run in its own process (it installs signal handlers)."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.out = OutputCollector(self.proc.stdout)
        self.err = OutputCollector(self.proc.stderr)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def send(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60.0) -> int:
        rc = self.proc.wait(timeout)
        self.out.join()
        self.err.join()
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def assert_all_gone(procs: list[psutil.Process], timeout: float = 10.0) -> None:
    """Fail unless every process in ``procs`` has disappeared before the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"still running: {[(p.pid, p.cmdline()) for p in alive]}")
        time.sleep(0.05)


class LauncherFactory:
    """Starts launchers with stand-in services and cleans up whatever is left."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.standin = tmp_path / "standin.py"
        self.standin.write_text(STANDIN_SOURCE)
        self.driver = tmp_path / "driver.py"
        self.driver.write_text(DRIVER_SOURCE)
        self.started: list[LauncherProcess] = []

    def config(self, modes: dict[str, str] | None = None, **overrides: object) -> dict[str, Any]:
        """A driver configuration on free ports; ``modes`` picks stand-in behaviours."""
        modes = modes or {}
        cfg: dict[str, Any] = {
            "standin": str(self.standin),
            "data_dir": str(self.tmp_path / "data"),
            "broker_port": free_port(),
            "smtp_port": free_port(),
            "services": [
                {"name": name, "port": free_port(), "mode": modes.get(name, "serve")}
                for name in ("inventory", "reservations", "notifications")
            ],
        }
        return {**cfg, **overrides}

    def start(self, cfg: dict[str, Any]) -> LauncherProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        launcher = LauncherProcess([sys.executable, str(self.driver), json.dumps(cfg)], env=env)
        self.started.append(launcher)
        return launcher

    def spawn(self, argv: list[str], env: dict[str, str] | None = None) -> LauncherProcess:
        launcher = LauncherProcess(argv, env=env)
        self.started.append(launcher)
        return launcher

    def cleanup(self) -> None:
        for launcher in self.started:
            if launcher.proc.poll() is None:
                kids = launcher.descendants()
                launcher.send(signal.SIGTERM)
                try:
                    launcher.wait(30)
                except subprocess.TimeoutExpired:
                    launcher.kill()
                for kid in kids:
                    if kid.is_running():
                        kid.kill()


@pytest.fixture
def launchers(tmp_path: Path) -> Iterator[LauncherFactory]:
    """Launcher factory; leftovers are stopped at teardown."""
    factory = LauncherFactory(tmp_path)
    yield factory
    factory.cleanup()


def _ports(cfg: dict[str, Any]) -> list[int]:
    return [cfg["broker_port"], cfg["smtp_port"], *(s["port"] for s in cfg["services"])]


def test_service_spec_command_from_module_or_argv() -> None:
    by_module = ServiceSpec("inventory", "boxoffice.inventory", 8001)
    assert by_module.command == [sys.executable, "-m", "boxoffice.inventory"]
    by_argv = ServiceSpec("x", ["/bin/echo", "hi"], 9000, {"A": "1"})
    assert by_argv.command == ["/bin/echo", "hi"]
    assert by_argv.env == {"A": "1"}
    assert by_argv.health_path == "/health/ready"
    with pytest.raises(ValueError, match="empty argv"):
        ServiceSpec("x", [], 9000)


def test_default_services_environment(tmp_path: Path) -> None:
    config = LauncherConfig(data_dir=tmp_path / "d", smtp_port=1025)
    specs = {
        s.name: s
        for s in default_services(config, bootstrap_servers="127.0.0.1:9092", jwt_secret="sek")
    }
    assert list(specs) == ["inventory", "reservations", "notifications"]
    data = (tmp_path / "d").resolve()
    for name, port in (("inventory", 8001), ("reservations", 8002), ("notifications", 8003)):
        spec = specs[name]
        svc = name.upper()
        assert spec.command == [sys.executable, "-m", f"boxoffice.{name}"]
        assert spec.port == port
        assert spec.env[f"BOXOFFICE_{svc}_ENVIRONMENT"] == "development"
        assert spec.env[f"BOXOFFICE_{svc}_DATABASE_URL"] == f"sqlite+aiosqlite:///{data}/{name}.db"
        assert spec.env[f"BOXOFFICE_{svc}_KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092"
        assert spec.env[f"BOXOFFICE_{svc}_HTTP_PORT"] == str(port)
        assert spec.env[f"BOXOFFICE_{svc}_JWT_SECRET"] == "sek"
    assert specs["notifications"].env["BOXOFFICE_NOTIFICATIONS_SMTP_HOST"] == "127.0.0.1"
    assert specs["notifications"].env["BOXOFFICE_NOTIFICATIONS_SMTP_PORT"] == "1025"
    assert (
        specs["reservations"].env["BOXOFFICE_RESERVATIONS_PUBLIC_BASE_URL"]
        == "http://127.0.0.1:8002"
    )
    assert "BOXOFFICE_INVENTORY_SMTP_HOST" not in specs["inventory"].env


def test_config_from_env_broker_port() -> None:
    assert LauncherConfig.from_env(".data", {}).broker_port == 9092
    assert LauncherConfig.from_env(".data", {"BOXOFFICE_BROKER_PORT": "19092"}).broker_port == 19092
    with pytest.raises(ValueError, match="port"):
        LauncherConfig.from_env(".data", {"BOXOFFICE_BROKER_PORT": "70000"})


def test_secret_is_created_once(tmp_path: Path) -> None:
    path = tmp_path / "dev-secret"
    first = load_or_create_secret(path)
    assert len(first) >= 32
    assert path.stat().st_mode & 0o077 == 0
    assert load_or_create_secret(path) == first


def test_stack_starts_stops_on_sigint_and_restarts(launchers: LauncherFactory) -> None:
    cfg = launchers.config()
    data = Path(cfg["data_dir"])
    launcher = launchers.start(cfg)
    launcher.out.wait_for("Press Ctrl-C to stop.")
    banner = launcher.out.text
    for service in cfg["services"]:
        url = f"http://127.0.0.1:{service['port']}"
        assert f"{url}   docs: {url}/docs" in banner
        # Output is prefixed with the service name and copied to its log file.
        launcher.out.wait_for(f"{service['name']:<13} | standin on {service['port']}")
        log = (data / "logs" / f"{service['name']}.log").read_text()
        assert f"greeting=hello-{service['name']}" in log
    assert f"127.0.0.1:{cfg['broker_port']}" in banner
    reservations = next(s["port"] for s in cfg["services"] if s["name"] == "reservations")
    assert f"http://127.0.0.1:{reservations}/backoffice/" in banner
    assert str(data.resolve() / "mail") in banner
    token = (data / "dev-token").read_text().strip()
    secret = (data / "dev-secret").read_text().strip()
    assert f"Bearer {token}" in banner
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert claims["sub"] == "dev"
    assert claims["org"] == "demo"
    assert claims["roles"] == ["organizer", "admin"]
    assert claims["exp"] - claims["iat"] == 30 * 24 * 3600
    assert "tansu broker" in (data / "logs" / "broker.log").read_text()

    kids = launcher.descendants()
    # The broker plus three stand-ins.
    assert len(kids) >= 4
    assert any("tansu" in " ".join(k.cmdline()) for k in kids)

    launcher.send(signal.SIGINT)
    assert launcher.wait(60) == 0
    assert_all_gone(kids)
    assert all(port_is_free("127.0.0.1", port) for port in _ports(cfg))
    assert "SIGINT received, stopping" in launcher.out.text

    # Same ports, same data dir: a second run starts cleanly and keeps the secret.
    again = launchers.start(cfg)
    again.out.wait_for("Press Ctrl-C to stop.")
    assert (data / "dev-secret").read_text().strip() == secret
    kids = again.descendants()
    again.send(signal.SIGTERM)
    assert again.wait(60) == 0
    assert_all_gone(kids)


def test_service_dying_stops_everything(launchers: LauncherFactory) -> None:
    cfg = launchers.config()
    launcher = launchers.start(cfg)
    launcher.out.wait_for("Press Ctrl-C to stop.")
    kids = launcher.descendants()
    victim = cfg["services"][1]
    with contextlib.suppress(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{victim['port']}/exit", timeout=5)
    assert launcher.wait(60) == 3
    assert "reservations exited on its own with code 3" in launcher.err.text
    assert_all_gone(kids)
    assert all(port_is_free("127.0.0.1", port) for port in _ports(cfg))


def test_service_dying_during_startup(launchers: LauncherFactory) -> None:
    cfg = launchers.config(modes={"notifications": "exit-now"})
    launcher = launchers.start(cfg)
    assert launcher.wait(60) == 4
    assert "notifications exited on its own with code 4" in launcher.err.text
    assert "Press Ctrl-C" not in launcher.out.text
    assert all(port_is_free("127.0.0.1", port) for port in _ports(cfg))


def test_readiness_deadline(launchers: LauncherFactory) -> None:
    cfg = launchers.config(modes={"inventory": "never-ready"}, ready_timeout=2.0)
    launcher = launchers.start(cfg)
    assert launcher.wait(60) == 1
    assert "inventory did not answer 200" in launcher.err.text
    assert "reservations did not answer" not in launcher.err.text
    assert all(port_is_free("127.0.0.1", port) for port in _ports(cfg))


def test_unstartable_service_stops_the_rest(launchers: LauncherFactory, tmp_path: Path) -> None:
    cfg = launchers.config()
    cfg["services"][2]["argv"] = [str(tmp_path / "no-such-program")]
    launcher = launchers.start(cfg)
    assert launcher.wait(60) == 1
    assert "cannot start notifications" in launcher.err.text
    assert all(port_is_free("127.0.0.1", port) for port in _ports(cfg))


def test_busy_port_fails_fast(launchers: LauncherFactory, tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        env = {**os.environ, "BOXOFFICE_BROKER_PORT": str(busy)}
        argv = [
            sys.executable,
            "-m",
            "boxoffice.devstack",
            "run",
            "--data-dir",
            str(tmp_path / "d"),
        ]
        launcher = launchers.spawn(argv, env=env)
        assert launcher.wait(30) == 2
    assert f"port {busy} on 127.0.0.1 (Kafka broker) is already in use" in launcher.err.text


def test_cli_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "boxoffice.devstack", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "--data-dir" in result.stdout
