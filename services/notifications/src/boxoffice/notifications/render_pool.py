"""Writing emails in worker processes.

A ticket email is CPU-bound to write (the PDF and its QR code, tens of milliseconds in
pure Python): in a thread it holds the GIL, so one process writes one email at a time
however many SMTP sessions are open. ``render_processes`` workers write them in
parallel on other cores, while the service process only talks to the database and SMTP.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from email.message import EmailMessage

from boxoffice.notifications.rendering import EmailComposer
from boxoffice.notifications.service import EmailClaim
from boxoffice.notifications.settings import Settings

_composer: EmailComposer | None = None


def _start_worker(settings: Settings) -> None:
    global _composer
    _composer = EmailComposer(settings)


def _compose(claim: EmailClaim) -> EmailMessage:
    if _composer is None:
        raise RuntimeError("render worker was not initialised")
    return _composer.compose(claim)


class RenderPool:
    """``processes`` worker processes, each with its own :class:`EmailComposer`.

    Workers are spawned (not forked: the service runs an event loop and threads) and
    replaced when one dies; the pool is shut down with the dispatcher.
    """

    def __init__(self, settings: Settings, processes: int) -> None:
        self._settings = settings
        self._processes = processes
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self._processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self._settings,),
        )

    async def compose(self, claim: EmailClaim) -> EmailMessage:
        """The message of ``claim``, written by a worker (a dead pool is replaced once)."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, _compose, claim)
        except BrokenProcessPool:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
            return await loop.run_in_executor(self._executor, _compose, claim)

    def shutdown(self) -> None:
        """Stop the workers (waiting for none: attempts in flight were drained)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
