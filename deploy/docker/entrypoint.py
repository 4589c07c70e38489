"""Container entrypoint: resolve ``BOXOFFICE_*_FILE`` variables, then exec the command.

Docker and compose secrets are files (``/run/secrets/<name>``), while the services read
their settings from the environment. For every ``BOXOFFICE_<SERVICE>_<FIELD>_FILE``
variable this sets ``BOXOFFICE_<SERVICE>_<FIELD>`` to the file's content (a trailing
newline dropped) and removes the ``_FILE`` variable. Setting both is an error. Then the
command replaces this process (``exec``), so the service is PID 1 and gets SIGTERM.

Usage: ``python /app/entrypoint.py python -m boxoffice.<service>``
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

FILE_VARIABLE = re.compile(r"^(BOXOFFICE_[A-Z0-9_]+)_FILE$")
SERVICES = ("inventory", "reservations", "notifications")
USAGE = (
    "usage: <image> python -m boxoffice.<service>\n"
    f"  where <service> is one of: {', '.join(SERVICES)}\n"
)


class EntrypointError(Exception):
    """A ``_FILE`` variable that cannot be resolved."""


def resolve_file_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment with every ``BOXOFFICE_*_FILE`` variable replaced by its content."""
    resolved = dict(environ)
    for name, path in environ.items():
        match = FILE_VARIABLE.match(name)
        if match is None:
            continue
        target = match.group(1)
        if target in environ:
            raise EntrypointError(f"both {target} and {name} are set; set only one")
        try:
            value = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise EntrypointError(f"{name}: cannot read {path}: {error.strerror}") from error
        value = value.removesuffix("\n").removesuffix("\r")
        if not value:
            raise EntrypointError(f"{name}: {path} is empty")
        resolved[target] = value
        del resolved[name]
    return resolved


def main(argv: list[str]) -> int:
    """Resolve the secrets and exec ``argv``; returns only on error."""
    if not argv or argv[0] in {"-h", "--help"}:
        sys.stderr.write(USAGE)
        return 64
    try:
        environ = resolve_file_variables(os.environ)
    except EntrypointError as error:
        sys.stderr.write(f"entrypoint: {error}\n")
        return 78
    os.execvpe(argv[0], argv, environ)  # noqa: S606 - the container's command, by design
    return 0  # pragma: no cover - execvpe does not return


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
