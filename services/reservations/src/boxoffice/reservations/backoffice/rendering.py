"""Rendering the backoffice pages: Jinja2 templates shipped in the package, autoescaped."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

from boxoffice.reservations.money import format_amount

# Scripts and styles come from our own static files only: no inline code runs.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
STATIC_FILES = {"backoffice.css": "text/css", "backoffice.js": "text/javascript"}


def _when(moment: datetime) -> str:
    """A moment as people read it, in the zone it carries (the event's)."""
    return f"{moment.strftime('%a %d %b %Y, %H:%M')} ({moment.tzname()})"


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("boxoffice.reservations.backoffice", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = _when
    environment.filters["amount"] = format_amount
    return environment


def page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A rendered backoffice page with its security headers."""
    body = _environment().get_template(template).render(**context)
    return HTMLResponse(body, status_code, headers=SECURITY_HEADERS)


@cache
def static_file(name: str) -> bytes:
    """The content of one of the backoffice's static files (``STATIC_FILES``)."""
    return (files("boxoffice.reservations.backoffice") / "static" / name).read_bytes()
