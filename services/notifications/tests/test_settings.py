"""Settings refuse combinations that cannot work or are unsafe in production."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from boxoffice.chassis.settings import Environment
from boxoffice.notifications.settings import Settings
from services.notifications.tests.support import JWT_SECRET

PRODUCTION: dict[str, Any] = {
    "environment": Environment.PRODUCTION,
    "jwt_secret": JWT_SECRET,
    "mail_from": "Tickets <tickets@example.com>",
}


def test_defaults_point_at_the_local_mail_sink() -> None:
    settings = Settings(environment=Environment.DEVELOPMENT)
    assert (settings.smtp_host, settings.smtp_port) == ("127.0.0.1", 1025)
    assert settings.smtp_max_attempts == 5
    assert settings.smtp_concurrency == 8
    assert settings.mail_from_address == "tickets@boxoffice.localhost"
    assert settings.mail_domain == "boxoffice.localhost"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOXOFFICE_NOTIFICATIONS_ENVIRONMENT", "test")
    monkeypatch.setenv("BOXOFFICE_NOTIFICATIONS_JWT_SECRET", JWT_SECRET)
    monkeypatch.setenv("BOXOFFICE_NOTIFICATIONS_SMTP_HOST", "mail.example.com")
    monkeypatch.setenv("BOXOFFICE_NOTIFICATIONS_SMTP_PASSWORD", "s3cret")
    settings = Settings()
    assert settings.smtp_host == "mail.example.com"
    assert settings.smtp_password is not None
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"smtp_tls": True, "smtp_starttls": True}, "exclude each other"),
        ({"smtp_timeout_seconds": 100, "dispatcher_lease_seconds": 150}, "lease"),
        ({"mail_from": "nobody"}, "email address"),
        ({"smtp_password": "pw"}, "without TLS"),
        ({"mail_from": "boxoffice <tickets@boxoffice.localhost>"}, "real sender"),
    ],
)
def test_unworkable_or_unsafe_settings_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**{**PRODUCTION, **overrides})


def test_production_accepts_credentials_over_tls() -> None:
    settings = Settings(**PRODUCTION, smtp_password="pw", smtp_starttls=True)
    assert settings.smtp_starttls
