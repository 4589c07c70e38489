"""`make run`'s launcher with the real services: ready within 60 s, stops clean, restarts."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import psutil

from boxoffice.devstack.broker import free_port

SERVICES = ("inventory", "reservations", "notifications")


async def _wait_all_ready(ports: dict[str, int], process: subprocess.Popen[bytes]) -> float:
    started = time.monotonic()
    pending = dict(ports)
    async with httpx.AsyncClient(timeout=2.0) as client:
        while pending:
            assert process.poll() is None, "the launcher exited before the stack was ready"
            for name, port in list(pending.items()):
                try:
                    response = await client.get(f"http://127.0.0.1:{port}/health/ready")
                except httpx.HTTPError:
                    continue
                if response.status_code == 200:
                    del pending[name]
            assert time.monotonic() - started < 60, f"not ready within 60 s: {sorted(pending)}"
            await asyncio.sleep(0.2)
    return time.monotonic() - started


async def test_the_dev_stack_starts_stops_and_starts_again(tmp_path: Path) -> None:
    ports = {name: free_port() for name in SERVICES}
    env = {
        **os.environ,
        "BOXOFFICE_BROKER_PORT": str(free_port()),
        "BOXOFFICE_SMTP_PORT": str(free_port()),
        **{f"BOXOFFICE_{name.upper()}_PORT": str(port) for name, port in ports.items()},
    }
    data_dir = tmp_path / "data"
    for run in range(2):
        launcher = subprocess.Popen(
            [sys.executable, "-m", "boxoffice.devstack", "run", "--data-dir", str(data_dir)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            await _wait_all_ready(ports, launcher)
            children = psutil.Process(launcher.pid).children(recursive=True)
            assert len(children) >= 4  # broker + three services
            token = (data_dir / "dev-token").read_text().strip()
            secret = (data_dir / "dev-secret").read_text().strip()
            claims = jwt.decode(token, secret, algorithms=["HS256"])
            assert claims["org"]
            assert claims["sub"]
            launcher.send_signal(signal.SIGINT)
            assert launcher.wait(timeout=60) == 0, f"run {run}: launcher did not exit cleanly"
            _gone, alive = psutil.wait_procs(children, timeout=10)
            assert not alive, f"run {run}: orphans left: {alive}"
        finally:
            if launcher.poll() is None:
                launcher.kill()
                launcher.wait()
    assert sorted(path.name for path in data_dir.glob("*.db")) == [
        f"{name}.db" for name in sorted(SERVICES)
    ]
