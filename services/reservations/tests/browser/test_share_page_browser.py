"""The contact person's page in a real browser (headless Chromium, Playwright).

The reservations app is served for real by uvicorn on a free port; inventory's answers
are played by the test harness, as in the other reservations tests. Each page state is
written as a screenshot to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect

from boxoffice.reservations.sweeper import sweep_once
from services.reservations.tests.support import (
    Harness,
    SeedEvent,
    auth,
    event_upserted,
    example_1_body,
    example_2_body,
    inventory_envelope,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def _chromium_installed() -> None:
    # Fail, never skip: these tests are the proof of the page. `.ci/run` installs it.
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (Debian's package)")


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """One database is enough here: the rules run on both in the in-process tests."""
    return sqlite_url


@pytest.fixture
def listening() -> Iterator[socket.socket]:
    """A bound socket on a free port, handed to uvicorn (no race for the port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock
    finally:
        sock.close()


@pytest.fixture
def settings_overrides(listening: socket.socket) -> dict[str, object]:
    """Share URLs point at the served app."""
    host, port = listening.getsockname()
    return {"public_base_url": f"http://{host}:{port}", "public_rate_limit_requests": 10_000}


@pytest.fixture
async def served(harness: Harness, listening: socket.socket) -> AsyncIterator[Harness]:
    """The harness's app served over HTTP (no lifespan: no broker, inventory is played)."""
    server = uvicorn.Server(
        uvicorn.Config(harness.app, lifespan="off", log_level="warning", access_log=False)
    )
    task = asyncio.create_task(server.serve(sockets=[listening]))
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise AssertionError("uvicorn did not start")
        await asyncio.sleep(0.01)
    try:
        yield harness
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's headless Chromium (never a downloaded browser)."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A phone-sized page."""
    context = await browser.new_context(viewport=PHONE)
    try:
        yield await context.new_page()
    finally:
        await context.close()


@pytest.fixture
def screenshots(request: pytest.FixtureRequest) -> Path:
    """Where the page states are written."""
    folder = request.config.rootpath / "test-artifacts" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def _seed(harness: Harness) -> SeedEvent:
    seed = await harness.seed_event()
    settings = {
        "terms_url": "https://example.org/terms",
        "privacy_policy_url": "https://example.org/privacy",
        "payment_beneficiary": "Example Events Ltd",
        "payment_iban": "CH9300762011623852957",
    }
    await harness.deliver(
        inventory_envelope(event_upserted(seed.event_id, slug=seed.slug, version=2, **settings))
    )
    return seed


async def _create(harness: Harness, seed: SeedEvent, body: dict[str, Any]) -> dict[str, Any]:
    response = await harness.create(seed, body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _status(harness: Harness, reservation_id: str) -> str:
    response = await harness.client.get(f"/v1/reservations/{reservation_id}", headers=auth())
    status: str = response.json()["status"]
    return status


async def test_jane_names_attendees_and_pays_by_bank_transfer(
    served: Harness, page: Page, screenshots: Path
) -> None:
    seed = await _seed(served)
    created = await _create(served, seed, example_1_body(seed))
    assert len(created["tickets"]) == 10

    opened = await page.goto(created["share_url"])
    assert opened is not None
    assert opened.status == 200
    await expect(
        page.get_by_role("heading", name="Please complete your reservation")
    ).to_be_visible()
    await expect(page.get_by_test_id("total")).to_have_text("900.00 EUR")
    await expect(page.locator("#countdown")).to_contain_text("Time left: 1 day 07:5")
    await page.screenshot(path=screenshots / "1-pending.png", full_page=True)

    tickets = page.locator("fieldset[data-ticket-id]")
    for index, (first, last) in enumerate((("Ada", "Lovelace"), ("Alan", "Turing"))):
        ticket = tickets.nth(index)
        await ticket.get_by_label("First name").fill(first)
        await ticket.get_by_label("Last name").fill(last)
        await ticket.get_by_label("Email").fill(f"{first.lower()}@example.org")
    await page.get_by_role("button", name="Save attendees").click()
    assigned = page.get_by_test_id("ticket")
    await expect(assigned).to_have_count(2)
    await expect(assigned.nth(0)).to_contain_text("Ada Lovelace <ada@example.org>")
    await expect(assigned.nth(1)).to_contain_text("Alan Turing <alan@example.org>")

    await page.get_by_role("button", name="Confirm reservation").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "The terms and the privacy policy must be accepted."
    )
    await page.screenshot(path=screenshots / "2-terms-not-accepted.png", full_page=True)
    assert await _status(served, created["id"]) == "PENDING"

    await expect(page.get_by_role("link", name="terms and conditions")).to_have_attribute(
        "href", "https://example.org/terms"
    )
    await page.get_by_label("I accept the terms and conditions").check()
    await page.get_by_label("I accept the privacy policy").check()
    await page.get_by_label("Bank transfer").check()
    await page.get_by_role("button", name="Confirm reservation").click()

    await expect(page.get_by_role("heading", name="Awaiting your bank transfer")).to_be_visible()
    await expect(page.get_by_test_id("iban")).to_have_text("CH9300762011623852957")
    await expect(page.get_by_test_id("reference")).to_have_text(created["code"])
    await expect(page.get_by_test_id("amount")).to_have_text("900.00 EUR")
    await expect(page.locator("#countdown")).to_contain_text(
        re.compile(r"Time left: (5 days 00:00:00|4 days 23:59)")
    )
    await page.screenshot(path=screenshots / "3-awaiting-bank-transfer.png", full_page=True)
    assert await _status(served, created["id"]) == "OFFLINE_PAYMENT"

    completed = await served.client.post(
        f"/v1/reservations/{created['id']}/complete", headers=auth()
    )
    assert completed.status_code == 200, completed.text
    await page.reload()
    await expect(page.get_by_role("heading", name="Your reservation is complete")).to_be_visible()
    await expect(page.get_by_test_id("ticket").nth(0)).to_contain_text("Ada Lovelace")
    await page.screenshot(path=screenshots / "4-complete.png", full_page=True)


async def test_a_zero_total_is_confirmed_as_complete(
    served: Harness, page: Page, screenshots: Path
) -> None:
    seed = await _seed(served)
    created = await _create(served, seed, example_2_body(seed))

    await page.goto(created["share_url"])
    await expect(page.get_by_test_id("total")).to_have_text("0.00 EUR")
    await page.get_by_label("I accept the terms and conditions").check()
    await page.get_by_label("I accept the privacy policy").check()
    await expect(page.get_by_label("Nothing to pay")).to_be_checked()
    await page.get_by_role("button", name="Confirm reservation").click()

    await expect(page.get_by_role("heading", name="Your reservation is complete")).to_be_visible()
    await page.screenshot(path=screenshots / "5-free-complete.png", full_page=True)
    assert await _status(served, created["id"]) == "COMPLETE"


async def test_cancelled_expired_and_unknown_links(
    served: Harness, page: Page, screenshots: Path
) -> None:
    seed = await _seed(served)
    cancelled = await _create(served, seed, example_2_body(seed))
    expiring = await _create(served, seed, example_1_body(seed))

    await page.goto(cancelled["share_url"])
    await page.get_by_text("I no longer need this reservation").click()
    await page.get_by_role("button", name="Cancel the reservation").click()
    await expect(page.get_by_role("heading", name="This reservation was cancelled")).to_be_visible()
    await page.screenshot(path=screenshots / "6-cancelled.png", full_page=True)
    assert await _status(served, cancelled["id"]) == "CANCELLED"

    served.clock.advance(timedelta(days=3))
    assert await sweep_once(served.runtime.sessions, served.context.service) == 1
    await page.goto(expiring["share_url"])
    await expect(page.get_by_role("heading", name="This reservation has expired")).to_be_visible()
    await page.screenshot(path=screenshots / "7-expired.png", full_page=True)

    unknown = await page.goto(expiring["share_url"][:-6] + "abcdef")
    assert unknown is not None
    assert unknown.status == 404
    await expect(page.get_by_role("heading", name="Reservation not found")).to_be_visible()
    await page.screenshot(path=screenshots / "8-not-found.png", full_page=True)
