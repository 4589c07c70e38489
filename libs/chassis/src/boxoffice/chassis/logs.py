"""One logging setup: JSON lines with service and correlation id, no personal data."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

# Defence in depth: handlers never log attendee or contact data on purpose, but an
# exception text might carry an address, so anything shaped like one is masked.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def current_correlation_id() -> str | None:
    """The correlation id of the request or message being handled, if any."""
    return _correlation_id.get()


@contextmanager
def correlation_scope(correlation_id: str | None) -> Iterator[None]:
    """Tag every log line written inside the block with ``correlation_id``."""
    token = _correlation_id.set(correlation_id)
    try:
        yield
    finally:
        _correlation_id.reset(token)


def redact(text: str) -> str:
    """Mask e-mail addresses in a text."""
    return _EMAIL.sub("<email>", text)


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self._service
        record.correlation_id = _correlation_id.get()
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            record.args = (
                tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
                if isinstance(record.args, tuple)
                else record.args
            )
        return True


class _RedactingJsonFormatter(JsonFormatter):
    def formatException(self, ei: object) -> str:
        return redact(super().formatException(ei))  # type: ignore[arg-type]


def configure_logging(service: str, *, level: str = "INFO", json_lines: bool = True) -> None:
    """Configure the root logger once per process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter(service))
    if json_lines:
        handler.setFormatter(
            _RedactingJsonFormatter(
                "{asctime}{levelname}{name}{message}{service}{correlation_id}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(service)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
