"""Handing emails to the SMTP server, and telling temporary failures from permanent ones."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import aiosmtplib
from aiosmtplib import (
    SMTPException,
    SMTPNotSupported,
    SMTPRecipientsRefused,
    SMTPResponseException,
)

from boxoffice.notifications.settings import Settings


class DeliveryError(Exception):
    """The server did not take the email.

    Args:
        reason: what went wrong, as the server or the connection said it.
        permanent: whether trying again cannot help (a 5xx reply).
    """

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class SmtpMailer:
    """Sends each email in its own SMTP session, at most ``smtp_concurrency`` at once.

    Args:
        settings: the server, its TLS mode, credentials and timeouts.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._sessions = asyncio.Semaphore(settings.smtp_concurrency)

    async def send(self, message: EmailMessage) -> None:
        """Deliver one email to the server; raises :class:`DeliveryError` when refused."""
        settings = self._settings
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        async with self._sessions:
            try:
                await aiosmtplib.send(
                    message,
                    sender=settings.mail_from_address,
                    hostname=settings.smtp_host,
                    port=settings.smtp_port,
                    username=settings.smtp_username,
                    password=password,
                    use_tls=settings.smtp_tls,
                    start_tls=settings.smtp_starttls,
                    validate_certs=settings.smtp_validate_certs,
                    timeout=settings.smtp_timeout_seconds,
                )
            except SMTPRecipientsRefused as error:
                codes = [refusal.code for refusal in error.recipients]
                reason = "; ".join(f"{each.code} {each.message}" for each in error.recipients)
                raise DeliveryError(
                    reason, permanent=any(_is_permanent(code) for code in codes)
                ) from error
            except SMTPResponseException as error:
                raise DeliveryError(
                    f"{error.code} {error.message}", permanent=_is_permanent(error.code)
                ) from error
            except SMTPNotSupported as error:
                # E.g. STARTTLS required but not offered: a setup problem, not a hiccup.
                raise DeliveryError(f"not supported: {error}", permanent=True) from error
            except (SMTPException, OSError) as error:
                # Refused or dropped connections, timeouts, TLS failures.
                raise DeliveryError(f"{type(error).__name__}: {error}", permanent=False) from error


def _is_permanent(code: int) -> bool:
    return 500 <= code <= 599
