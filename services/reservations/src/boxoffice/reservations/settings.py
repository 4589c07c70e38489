"""Settings of the reservations service (environment prefix ``BOXOFFICE_RESERVATIONS_``)."""

from __future__ import annotations

import hashlib
import hmac

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from boxoffice.chassis.settings import ServiceSettings


class Settings(ServiceSettings):
    """Settings of the reservations service."""

    model_config = SettingsConfigDict(env_prefix="BOXOFFICE_RESERVATIONS_", extra="ignore")

    service_name: str = "reservations"
    http_port: int = 8002
    database_url: str = "sqlite+aiosqlite:///.data/reservations.db"

    public_base_url: str = "http://127.0.0.1:8002"
    """Where contact persons open their reservation; the share URL is ``<this>/r/<token>``."""
    create_wait_seconds: float = Field(default=5.0, ge=0)
    """How long a create (or reinstate) request waits for inventory's answer before a 202."""
    outcome_poll_seconds: float = Field(default=0.05, gt=0)
    """How often a waiting request re-reads its row (the reply may reach another replica)."""
    outcome_poll_seconds_notified: float = Field(default=1.0, gt=0)
    """The same on PostgreSQL, where another replica's commit wakes the request through
    LISTEN/NOTIFY: the poll is then only the safety net for a lost notification."""
    public_hold_minutes: float = Field(default=25.0, gt=0)
    """Default expiry of public-shop reservations (``CreateReservation`` on the public channel)."""
    expiry_sweep_interval_seconds: float = Field(default=1.0, gt=0)
    expiry_sweep_batch_size: int = Field(default=100, ge=1)
    page_size: int = Field(default=50, ge=1, le=500)

    share_link_grace_hours: float = Field(default=168.0, ge=0)
    """How long the link of an expired or cancelled reservation still shows it (then 404)."""
    public_rate_limit_requests: int = Field(default=60, ge=1)
    """Requests one client address may make to the public page and API per window."""
    public_rate_limit_window_seconds: float = Field(default=60.0, gt=0)
    """The rate limit's window (fixed windows, counted per replica, in memory)."""
    trust_forwarded_for: bool = False
    """Take the client address from ``X-Forwarded-For`` (only behind a trusted proxy)."""

    ticket_code_secret: SecretStr | None = None
    """Signs the ticket codes (QR codes); derived from ``jwt_secret`` when not set."""

    @property
    def ticket_code_key(self) -> str:
        """The key ticket codes are signed with."""
        if self.ticket_code_secret is not None:
            return self.ticket_code_secret.get_secret_value()
        # jwt_secret is itself refused when missing or unsafe outside development; a key
        # derived from it stays distinct from the one tokens are signed with.
        return hmac.new(
            self.jwt_secret_value.encode(), b"boxoffice.ticket-codes", hashlib.sha256
        ).hexdigest()
