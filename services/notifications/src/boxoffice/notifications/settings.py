"""Settings of the notifications service (environment prefix ``BOXOFFICE_NOTIFICATIONS_``)."""

from __future__ import annotations

from email.utils import parseaddr
from typing import Self

from pydantic import Field, FilePath, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from boxoffice.chassis.settings import Environment, ServiceSettings


class Settings(ServiceSettings):
    """Settings of the notifications service."""

    model_config = SettingsConfigDict(env_prefix="BOXOFFICE_NOTIFICATIONS_", extra="ignore")

    service_name: str = "notifications"
    http_port: int = 8003
    database_url: str = "sqlite+aiosqlite:///.data/notifications.db"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_starttls: bool = False
    """Upgrade the connection with STARTTLS, and refuse a server that does not offer it."""
    smtp_tls: bool = False
    """Connect with implicit TLS (SMTPS, usually port 465)."""
    smtp_validate_certs: bool = True
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    """Limit of each SMTP step (connect, each command)."""
    smtp_max_attempts: int = Field(default=5, ge=1)
    """Attempts of one email, the first included, before it is marked failed."""
    smtp_retry_base_seconds: float = Field(default=60.0, ge=0)
    """Wait before the 2nd attempt; doubled before each further one."""
    smtp_retry_max_seconds: float = Field(default=3600.0, ge=0)
    smtp_concurrency: int = Field(default=8, ge=1)
    """SMTP sessions open at once by one process."""

    mail_from: str = "boxoffice <tickets@boxoffice.localhost>"

    render_processes: int = Field(default=0, ge=0)
    """Worker processes that write the emails (PDF, QR code); 0 writes them in a thread
    of the service process. One per spare core multiplies the sending rate."""

    dispatcher_poll_seconds: float = Field(default=0.2, gt=0)
    """How often the dispatcher looks for due emails queued by another replica."""
    dispatcher_lease_seconds: float = Field(default=300.0, gt=0)
    """An email left in ``sending`` this long (its sender died) becomes due again."""
    dispatcher_shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    """On shutdown, attempts in flight get this long to finish and be recorded."""

    ticket_pdf_font: FilePath | None = None
    """A TrueType font for the ticket PDF; by default the Bitstream Vera fonts shipped
    with reportlab (Western and most Central European letters)."""

    @model_validator(mode="after")
    def _check_mail_settings(self) -> Self:
        if self.smtp_tls and self.smtp_starttls:
            raise ValueError("smtp_tls and smtp_starttls exclude each other")
        if self.dispatcher_lease_seconds <= 2 * self.smtp_timeout_seconds:
            raise ValueError("dispatcher_lease_seconds must exceed 2 x smtp_timeout_seconds")
        _, address = parseaddr(self.mail_from)
        if "@" not in address:
            raise ValueError("mail_from must contain an email address")
        if self.environment is Environment.PRODUCTION:
            if self.smtp_password is not None and not (self.smtp_tls or self.smtp_starttls):
                raise ValueError("SMTP credentials must not be sent without TLS in production")
            if address.endswith(".localhost"):
                raise ValueError("mail_from must be a real sender address in production")
        return self

    @property
    def mail_from_address(self) -> str:
        """The bare address of ``mail_from`` (the SMTP envelope sender)."""
        return parseaddr(self.mail_from)[1]

    @property
    def mail_domain(self) -> str:
        """The domain of ``mail_from``, which qualifies our Message-IDs."""
        return self.mail_from_address.rpartition("@")[2]
