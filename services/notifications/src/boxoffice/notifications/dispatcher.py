"""The email dispatcher: claims due emails, sends them, records how it went.

Each email goes through three steps, never holding a transaction across SMTP:

1. claim (short transaction): due rows become ``sending`` with a lease
   (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so replicas never claim the same row);
2. render and send, outside any transaction, at most ``smtp_concurrency`` at once;
3. record (short transaction): the delivery log and its event, written together.

Delivery is at least once: if the process dies between the server accepting an email
and step 3, the lease runs out and the email is sent again. Both copies carry the
same ``Message-ID`` (derived from the email id), so receivers can drop the second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import BrokenExecutor
from email.message import EmailMessage

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxoffice.chassis.logs import correlation_scope
from boxoffice.notifications.render_pool import RenderPool
from boxoffice.notifications.rendering import EmailComposer, RenderError
from boxoffice.notifications.service import DeliveryResult, EmailClaim, EmailService
from boxoffice.notifications.settings import Settings
from boxoffice.notifications.smtp import DeliveryError, SmtpMailer

logger = logging.getLogger(__name__)


class EmailDispatcher:
    """Sends queued emails in the background of the service process.

    Args:
        sessions: the service's session factory.
        emails: the rules of claiming and recording.
        composer: writes the MIME message of a claimed email.
        mailer: hands messages to the SMTP server.
        settings: concurrency, poll interval, lease and shutdown grace.
        on_attempt: told how each attempt ended (the service's email metrics).
        render_pool: worker processes that write the messages; without one they are
            written in a thread of this process.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        emails: EmailService,
        composer: EmailComposer,
        mailer: SmtpMailer,
        settings: Settings,
        on_attempt: Callable[[DeliveryResult], None] = lambda _result: None,
        render_pool: RenderPool | None = None,
    ) -> None:
        self._sessions = sessions
        self._render_pool = render_pool
        self._on_attempt = on_attempt
        self._emails = emails
        self._composer = composer
        self._mailer = mailer
        self._concurrency = settings.smtp_concurrency
        self._poll_seconds = settings.dispatcher_poll_seconds
        self._grace_seconds = settings.dispatcher_shutdown_grace_seconds
        # Well inside the lease, so an attempt ends before another dispatcher may take over.
        self._attempt_timeout = settings.dispatcher_lease_seconds / 2
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """Look for due emails now (called after a commit that queued some)."""
        self._wake.set()

    async def run(self) -> None:
        """Dispatch until cancelled; attempts in flight get a grace period to finish."""
        failures = 0
        try:
            while True:
                self._wake.clear()
                try:
                    self._start_due(await self._claim(self._concurrency - len(self._in_flight)))
                    failures = 0
                    pause = self._poll_seconds
                except Exception:
                    failures += 1
                    logger.exception("claiming due emails failed", extra={"failures": failures})
                    pause = min(5.0, 0.1 * 2 ** min(failures, 6))
                # Not asyncio.wait_for: on Python 3.11 it can swallow a cancellation
                # that coincides with the wake-up, and the dispatcher would never stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause):
                        await self._wake.wait()
        finally:
            await self._drain()
            if self._render_pool is not None:
                self._render_pool.shutdown()

    async def dispatch_due(self) -> int:
        """Send the emails due now, once, and wait for them; returns how many were tried."""
        claims = await self._claim(self._concurrency)
        await asyncio.gather(*(self._deliver(claim) for claim in claims))
        return len(claims)

    async def _claim(self, limit: int) -> list[EmailClaim]:
        if limit <= 0:
            return []
        async with self._sessions.begin() as session:
            return await self._emails.claim_due_emails(session, limit)

    def _start_due(self, claims: list[EmailClaim]) -> None:
        for claim in claims:
            task = asyncio.create_task(self._deliver(claim), name=f"email:{claim.email_id}")
            self._in_flight.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()  # a slot is free

    async def _drain(self) -> None:
        if not self._in_flight:
            return
        _, pending = await asyncio.wait(self._in_flight, timeout=self._grace_seconds)
        for task in pending:
            # Left in ``sending``: due again when its lease runs out.
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _deliver(self, claim: EmailClaim) -> None:
        with correlation_scope(claim.correlation_id):
            result = await self._attempt(claim)
            self._on_attempt(result)
            await self._record(claim, result)

    async def _attempt(self, claim: EmailClaim) -> DeliveryResult:
        try:
            async with asyncio.timeout(self._attempt_timeout):
                # CPU-bound (PDF, QR code): kept off the event loop.
                message = await self._compose(claim)
                await self._mailer.send(message)
        except RenderError as error:
            return DeliveryResult.permanent_failure(f"cannot write the email: {error}")
        except DeliveryError as error:
            logger.info(
                "smtp attempt failed",
                extra={
                    "email_id": str(claim.email_id),
                    "attempt": claim.attempt,
                    "permanent": error.permanent,
                },
            )
            if error.permanent:
                return DeliveryResult.permanent_failure(error.reason)
            return DeliveryResult.temporary_failure(error.reason)
        except TimeoutError:
            return DeliveryResult.temporary_failure("the attempt timed out")
        except BrokenExecutor:
            return DeliveryResult.temporary_failure("the render worker died")
        except Exception as error:
            # A bug or unforeseen data. Logged by type only: its text may quote the
            # attendee's name or address.
            logger.error(
                "email attempt failed unexpectedly",
                extra={"email_id": str(claim.email_id), "error": type(error).__name__},
            )
            return DeliveryResult.permanent_failure(
                f"cannot write the email: {type(error).__name__}"
            )
        return DeliveryResult.sent()

    async def _compose(self, claim: EmailClaim) -> EmailMessage:
        if self._render_pool is not None:
            return await self._render_pool.compose(claim)
        return await asyncio.to_thread(self._composer.compose, claim)

    async def _record(self, claim: EmailClaim, result: DeliveryResult) -> None:
        # The email is out (or refused): losing this write would send it again, so a
        # failing database is retried for as long as the lease keeps the email ours.
        deadline = asyncio.get_running_loop().time() + self._attempt_timeout
        pause = 0.05
        while True:
            try:
                async with self._sessions.begin() as session:
                    await self._emails.record_delivery(session, claim, result)
                return
            except Exception as error:
                extra = {"email_id": str(claim.email_id), "error": type(error).__name__}
                if asyncio.get_running_loop().time() + pause > deadline:
                    logger.error(
                        "recording a delivery failed; the email will be tried again", extra=extra
                    )
                    return
                logger.warning("recording a delivery failed, retrying", extra=extra)
                await asyncio.sleep(pause)
                pause = min(2.0, pause * 2)
