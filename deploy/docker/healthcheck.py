"""Container health check: ``GET /health/live`` of the service running in this container.

Exit 0 when it answers 200, 1 otherwise (Docker's HEALTHCHECK contract). The port is
``--port N`` if given, else ``BOXOFFICE_<SERVICE>_HTTP_PORT``, else the service's default
``http_port`` (read from its Settings class), the service being the ``boxoffice.<service>``
module found on the command line of PID 1.

Kubernetes ignores HEALTHCHECK; the manifests use HTTP probes on the same path.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

MODULE = re.compile(r"^boxoffice\.([a-z_]+)$")
WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104 - matched, not bound


def service_from_cmdline(cmdline: Sequence[str]) -> str | None:
    """The ``<service>`` of ``python -m boxoffice.<service>`` in a command line."""
    for argument in cmdline:
        match = MODULE.match(argument)
        if match is not None:
            return match.group(1)
    return None


def default_port(service: str) -> int:
    """The default ``http_port`` of a service's Settings class."""
    settings = importlib.import_module(f"boxoffice.{service}.settings")
    port = settings.Settings.model_fields["http_port"].default
    return int(port)


def health_url(service: str | None, environ: Mapping[str, str], port: int | None = None) -> str:
    """The liveness URL of ``service`` as configured in ``environ``."""
    host = "127.0.0.1"
    if service is not None:
        prefix = f"BOXOFFICE_{service.upper()}_"
        configured_host = environ.get(f"{prefix}HTTP_HOST", "")
        if configured_host not in WILDCARD_HOSTS:
            host = configured_host
        if port is None:
            configured_port = environ.get(f"{prefix}HTTP_PORT")
            port = int(configured_port) if configured_port else default_port(service)
    if port is None:
        raise ValueError("no --port given and no boxoffice service found on PID 1")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}/health/live"


def pid1_cmdline() -> list[str]:
    """The command line of PID 1 (the service, as the entrypoint execs it)."""
    raw = Path("/proc/1/cmdline").read_bytes()
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def main(argv: list[str]) -> int:
    """Probe the service once; 0 healthy, 1 not."""
    port = int(argv[argv.index("--port") + 1]) if "--port" in argv else None
    try:
        service = service_from_cmdline(pid1_cmdline())
        url = health_url(service, os.environ, port)
        with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 - http only
            healthy = response.status == 200
    except (OSError, ValueError, ImportError, urllib.error.URLError) as error:
        sys.stderr.write(f"unhealthy: {error}\n")
        return 1
    return 0 if healthy else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
