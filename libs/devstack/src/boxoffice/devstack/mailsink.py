"""Local SMTP sink: every accepted message is stored as a ``.eml`` file.

Files are named ``<UTC timestamp>-<uuid>.eml`` so that sorting by name gives
arrival order, and hold the DATA exactly as received (no headers added). They
are written to a temporary name first and renamed, so a reader never sees a
half-written message.

Run standalone with::

    python -m boxoffice.devstack.mailsink --host 127.0.0.1 --port 1025 --dir .data/mail
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import os
import signal
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from boxoffice.devstack._proc import PortInUseError, ensure_port_free, free_port

__all__ = ["EmlWriter", "MailSink", "main", "read_messages", "write_eml"]


def write_eml(directory: Path, content: bytes) -> Path:
    """Store one message atomically as ``<UTC timestamp>-<uuid>.eml``.

    Args:
        directory: Target folder (created when missing).
        content: The raw message.

    Returns:
        Path of the new file.
    """
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    name = f"{stamp}-{uuid.uuid4()}.eml"
    final = directory / name
    # Dot-prefixed and not ending in .eml, so read_messages() skips it.
    tmp = directory / f".{name}.tmp"
    with tmp.open("wb") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(final)
    return final


class EmlWriter:
    """aiosmtpd handler that stores each message's DATA with :func:`write_eml`.

    Args:
        directory: Folder receiving the ``.eml`` files.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        """Persist the message before acknowledging it, so a 250 means "on disk"."""
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8", errors="surrogateescape")
        await asyncio.to_thread(write_eml, self.directory, content)
        return "250 Message accepted for delivery"


def read_messages(directory: str | os.PathLike[str]) -> list[EmailMessage]:
    """Parse every stored ``.eml`` in ``directory``, oldest first.

    Args:
        directory: The sink's folder; a missing folder yields an empty list.

    Returns:
        Messages parsed with ``email.policy.default``, sorted by file name.
    """
    folder = Path(directory)
    if not folder.is_dir():
        return []
    messages: list[EmailMessage] = []
    for path in sorted(p for p in folder.glob("*.eml") if not p.name.startswith(".")):
        with path.open("rb") as fh:
            parsed = email.message_from_binary_file(fh, policy=email.policy.default)
        messages.append(parsed)
    return messages


class MailSink:
    """SMTP sink served from a background thread; for tests and the launcher.

    Args:
        host: Address to listen on.
        port: TCP port; 0 picks a free one.
        directory: Folder receiving the ``.eml`` files.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 1025, directory: str | os.PathLike[str] = "."
    ) -> None:
        self.host = host
        self.port = port if port else free_port(host)
        self.directory = Path(directory)
        self._controller: Controller | None = None

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._controller is not None

    def start(self) -> Self:
        """Bind the port and start serving.

        Returns:
            The sink itself.

        Raises:
            PortInUseError: The port is already bound.
        """
        if self._controller is not None:
            return self
        ensure_port_free(self.host, self.port, "SMTP mail sink")
        self.directory.mkdir(parents=True, exist_ok=True)
        controller = Controller(
            EmlWriter(self.directory),
            hostname=self.host,
            port=self.port,
            ready_timeout=10.0,
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def messages(self) -> list[EmailMessage]:
        """Return :func:`read_messages` of this sink's folder."""
        return read_messages(self.directory)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


async def _serve(host: str, port: int, directory: Path) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    handler = EmlWriter(directory)
    server = await loop.create_server(
        lambda: SMTP(handler, enable_SMTPUTF8=True), host=host, port=port
    )
    print(f"mail sink listening on {host}:{port}, writing to {directory}", flush=True)
    try:
        await stop.wait()
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sink until SIGINT or SIGTERM.

    Args:
        argv: Command-line arguments (``sys.argv[1:]`` when None).

    Returns:
        Process exit code.
    """
    parser = argparse.ArgumentParser(
        prog="python -m boxoffice.devstack.mailsink",
        description="Local SMTP sink writing every message as a .eml file.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="listen address")
    parser.add_argument("--port", type=int, default=1025, help="listen port")
    parser.add_argument("--dir", default=".data/mail", help="folder for the .eml files")
    args = parser.parse_args(argv)
    directory = Path(args.dir).resolve()
    try:
        ensure_port_free(args.host, args.port, "SMTP mail sink")
        directory.mkdir(parents=True, exist_ok=True)
        asyncio.run(_serve(args.host, args.port, directory))
    except (OSError, PortInUseError) as exc:
        print(f"mail sink: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
