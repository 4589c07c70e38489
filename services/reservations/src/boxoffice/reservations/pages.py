"""The contact person's HTML pages: Jinja2 templates shipped in the package, autoescaped."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined


def _when(moment: datetime) -> str:
    """A moment as people read it, in the zone it carries (the event's)."""
    return f"{moment.strftime('%A %d %B %Y, %H:%M')} ({moment.tzname()})"


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("boxoffice.reservations", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = _when
    return environment


def render_page(template: str, **context: Any) -> str:
    """Render one of the page templates (``reservation.html``, ``not_found.html``, ...)."""
    return _environment().get_template(template).render(**context)
