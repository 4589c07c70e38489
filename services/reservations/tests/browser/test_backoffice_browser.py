"""The backoffice web UI in a real browser, on the real system.

Inventory, reservations and notifications run as processes (SQLite, the session's
broker, an SMTP sink); the user guide's sample event is loaded through inventory's API
as ``make run`` does. Headless Chromium (Debian's, driven by Playwright) then plays the
guide's two examples through the pages only, from sign-in to "Send tickets via email",
plus a CSV upload with a bad row and a refused reservation. Every screen is checked
with axe-core (no serious or critical violation) and written as a screenshot to
``test-artifacts/screenshots/backoffice/``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, async_playwright, expect

from boxoffice.devstack.mailsink import read_messages
from boxoffice.devstack.polling import eventually
from boxoffice.devstack.seed_data import SAMPLE_EVENT_SLUG, load_sample_event
from boxoffice.devstack.stack import SERVICES, Stack

ORG = "acme"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SAVED = 20_000
"""Milliseconds a save may take: the page waits for inventory's answer over the broker."""
TEAM = [("Olivia", "Organizer"), ("Paul", "Team"), ("Quinn", "Team"), ("Rita", "Team")]


def _chromium() -> str:
    # Fail, never skip: these tests are the proof of the UI. `.ci/run` installs it.
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is missing: apt-get install chromium (Debian's package)")
    return path


def _axe_source(root: Path) -> str:
    path = root / "node_modules" / "axe-core" / "axe.min.js"
    if not path.exists():
        pytest.fail("axe-core is missing: run `npm ci` at the repository root")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
async def stack(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """The three services with the sample event loaded and replicated to reservations."""
    workdir = tmp_path_factory.mktemp("backoffice-stack")
    urls = {name: f"sqlite+aiosqlite:///{workdir / f'{name}.db'}" for name in SERVICES}
    system = Stack(bootstrap=kafka_bootstrap, database_urls=urls, workdir=workdir)
    try:
        await system.start()
        async with httpx.AsyncClient(timeout=10) as client:
            created = await load_sample_event(
                client, system.url("inventory"), system.token(ORG), now=datetime.now(UTC)
            )
            assert created
            assert not await load_sample_event(
                client, system.url("inventory"), system.token(ORG), now=datetime.now(UTC)
            )

            async def replicated() -> bool:
                page = await client.get(
                    f"{system.url('reservations')}/backoffice/events/{SAMPLE_EVENT_SLUG}",
                    headers=system.headers(ORG),
                )
                return page.status_code == 200 and all(
                    name in page.text for name in ("General Admission", "Speakers", "Team")
                )

            await eventually(replicated, within=30, what="the sample event replicated")
        yield system
    finally:
        system.stop()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Debian's headless Chromium (never a downloaded browser)."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=_chromium(), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def page(browser: Browser, stack: Stack) -> AsyncIterator[Page]:
    """A tall desktop page (screenshots show whole screens) that may use the clipboard."""
    context = await browser.new_context(
        viewport={"width": 1280, "height": 2000}, base_url=stack.url("reservations")
    )
    await context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=stack.url("reservations")
    )
    context.set_default_timeout(15_000)
    try:
        yield await context.new_page()
    finally:
        await context.close()


class Screens:
    """Writes screenshots and checks each screen with axe-core."""

    def __init__(self, folder: Path, axe: str) -> None:
        self.folder = folder
        self.axe = axe

    async def check(self, page: Page, name: str) -> None:
        """Screenshot the page and fail on any serious or critical axe violation."""
        # Not full_page: Chromium's full-page capture leaves clicks off by the scroll offset.
        await page.screenshot(path=self.folder / f"{name}.png")
        if not await page.evaluate("typeof window.axe !== 'undefined'"):
            await page.evaluate(self.axe)
        result: dict[str, Any] = await page.evaluate(
            "axe.run(document, {resultTypes: ['violations']})"
        )
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} — "
            + "; ".join(node["target"][0] for node in v["nodes"][:3])
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == [], f"{name}: {serious}"


@pytest.fixture(scope="module")
def screens(request: pytest.FixtureRequest) -> Screens:
    """Screenshots under ``test-artifacts/screenshots/backoffice/``."""
    root = request.config.rootpath
    folder = root / "test-artifacts" / "screenshots" / "backoffice"
    folder.mkdir(parents=True, exist_ok=True)
    return Screens(folder, _axe_source(root))


async def sign_in(page: Page, stack: Stack, screens: Screens | None = None) -> None:
    """Open the backoffice, get sent to the sign-in page and sign in with a token."""
    await page.goto("/backoffice/")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.get_by_label("Access token").fill(stack.token(ORG))
    if screens is not None:
        await screens.check(page, "01-sign-in")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Events")).to_be_visible()


async def open_create_form(page: Page, screens: Screens | None = None) -> None:
    """Events → the event page → Actions → Create reservation."""
    await page.get_by_role("link", name="My Awesome Event", exact=True).click()
    await expect(page.get_by_role("heading", name="My Awesome Event")).to_be_visible()
    await page.get_by_text("Actions", exact=True).click()
    if screens is not None:
        await screens.check(page, "03-event-actions")
    await page.get_by_role("link", name="Create reservation").click()
    await expect(page.get_by_role("heading", name="Create reservation")).to_be_visible()


async def fill_contact(page: Page, first: str, last: str, email: str, company: str = "") -> None:
    """The Contact info section."""
    await page.get_by_label("First name", exact=True).first.fill(first)
    await page.get_by_label("Last name", exact=True).first.fill(last)
    await page.get_by_label("Email", exact=True).first.fill(email)
    if company:
        await page.get_by_label("Company (optional)").fill(company)


def block(page: Page, index: int) -> Locator:
    """The form's block of category ``index`` (0-based)."""
    return page.locator(f'section[data-block="{index}"]')


async def choose_category(section: Locator, name: str) -> None:
    """Pick an existing category by name in a block."""
    select = section.get_by_label("Existing category")
    label = await select.locator("option", has_text=name).first.inner_text()
    await select.select_option(label=label)


async def tab_to(page: Page, target: Locator, *, limit: int = 80) -> None:
    """Press Tab until ``target`` has the focus (proves it is reachable by keyboard)."""
    for _ in range(limit):
        if await target.evaluate("element => element === document.activeElement"):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"{target} not reachable with Tab")


def mails_to(stack: Stack, addresses: set[str]) -> list[str]:
    """The recipients of the sink's mails among ``addresses``."""
    found = []
    for message in read_messages(stack.workdir / "mail"):
        for _, address in getaddresses([str(message["To"])]):
            if address in addresses:
                found.append(address)
    return found


async def emails_sent(page: Page, count: int) -> bool:
    """Reload until the email log shows ``count`` emails, all sent."""
    await page.reload()
    statuses = await page.get_by_test_id("email-log").locator("tbody tr td:nth-child(2)").all()
    texts = [await cell.inner_text() for cell in statuses]
    return len(texts) == count and all(text == "sent" for text in texts)


async def test_example_1_jane_doe_pays_then_gets_her_tickets(
    page: Page, stack: Stack, screens: Screens
) -> None:
    await sign_in(page, stack, screens)
    await screens.check(page, "02-events")
    await open_create_form(page, screens)

    await fill_contact(page, "Jane", "Doe", "jane.doe@example.org", "Example Org.")
    first = block(page, 0)
    await choose_category(first, "General Admission")
    await first.get_by_label("Reserve empty seats").check()
    await first.get_by_label("Number of empty seats").fill("9")
    await page.get_by_role("button", name="Add attendees for another category").click()
    second = block(page, 1)
    await expect(second).to_be_visible()
    await expect(page.get_by_label("Company (optional)")).to_have_value("Example Org.")
    await expect(first.get_by_label("Number of empty seats")).to_have_value("9")
    await second.get_by_label("Create new").check()
    await second.get_by_label("New category name").fill("Group discount")
    await second.get_by_label("Price (EUR)").fill("0.00")
    await second.get_by_label("Reserve empty seats").check()
    await second.get_by_label("Number of empty seats").fill("1")
    await screens.check(page, "04-create-example-1")
    await page.get_by_role("button", name="Save and continue").click()

    await expect(page.get_by_test_id("status")).to_have_text("PENDING", timeout=SAVED)
    await expect(page.get_by_test_id("total")).to_have_text("900.00 EUR")
    await expect(page.get_by_test_id("lines")).to_contain_text("Group discount")
    await page.get_by_role("button", name="Copy link").click()
    await expect(page.get_by_text("Copied")).to_be_visible()
    share_url = await page.get_by_test_id("share-url").input_value()
    assert await page.evaluate("navigator.clipboard.readText()") == share_url

    await page.get_by_label(re.compile(r"Expires at")).fill("2099-01-01T12:00")
    await page.get_by_role("button", name="Update").click()
    await expect(page.get_by_role("alert")).to_contain_text("must not be after the end")
    expires = await page.get_by_label(re.compile(r"Expires at")).input_value()
    moved = expires[:11] + "20:00"
    await page.get_by_label(re.compile(r"Expires at")).fill(moved)
    await page.get_by_role("button", name="Update").click()
    await expect(page.get_by_role("status").first).to_have_text("The expiration date was updated.")
    await expect(page.get_by_label(re.compile(r"Expires at"))).to_have_value(moved)
    await screens.check(page, "05-reservation-example-1-pending")

    # Ms. Doe follows the link, names two attendees and chooses a bank transfer.
    contact = await page.context.new_page()
    await contact.goto(share_url)
    tickets = contact.locator("fieldset[data-ticket-id]")
    for index, (first_name, last_name) in enumerate((("Ada", "Lovelace"), ("Alan", "Turing"))):
        ticket = tickets.nth(index)
        await ticket.get_by_label("First name").fill(first_name)
        await ticket.get_by_label("Last name").fill(last_name)
        await ticket.get_by_label("Email").fill(f"{first_name.lower()}@example.org")
    await contact.get_by_role("button", name="Save attendees").click()
    await expect(contact.get_by_test_id("ticket")).to_have_count(2)
    await contact.get_by_label("I accept the terms and conditions").check()
    await contact.get_by_label("I accept the privacy policy").check()
    await contact.get_by_label("Bank transfer").check()
    await contact.get_by_role("button", name="Confirm reservation").click()
    await expect(contact.get_by_role("heading", name="Awaiting your bank transfer")).to_be_visible()
    await contact.close()

    # The money arrived: the organizer marks it completed and sends the tickets.
    await page.reload()
    await expect(page.get_by_test_id("status")).to_have_text("OFFLINE_PAYMENT")
    await page.get_by_role("button", name="Mark as Completed").click()
    await expect(page.get_by_test_id("status")).to_have_text("COMPLETE")
    await expect(page.get_by_label(re.compile(r"Expires at"))).to_have_count(0)
    await page.get_by_role("button", name="Send tickets via email").click()
    dialog = page.get_by_role("dialog", name="Send tickets via email")
    await expect(dialog).to_be_visible()
    sendable = dialog.locator('input[name="ticket_id"]')
    await expect(sendable).to_have_count(2)
    await expect(dialog.get_by_text("not sendable: no attendee name and email yet")).to_have_count(
        8
    )
    await expect(dialog.get_by_role("group", name="Group discount")).to_contain_text(
        "Unassigned seat"
    )
    await screens.check(page, "06-send-tickets-dialog-example-1")
    await dialog.get_by_role("button", name="Send tickets").click()
    await expect(page.get_by_role("status").first).to_contain_text("being emailed")
    await eventually(lambda: emails_sent(page, 2), within=30, what="2 emails sent")
    recipients = {"ada@example.org", "alan@example.org"}
    assert sorted(mails_to(stack, recipients)) == sorted(recipients)
    await expect(page.get_by_test_id("audit-log")).to_contain_text("tickets sent")
    await screens.check(page, "07-reservation-example-1-emails-sent")


async def test_example_2_the_team_by_keyboard_only(
    page: Page, stack: Stack, screens: Screens
) -> None:
    await sign_in(page, stack)
    await open_create_form(page)
    keyboard = page.keyboard

    await tab_to(page, page.locator("#contact-first_name"))
    for text in ("Olivia", "Organizer", "olivia@example.org"):
        await keyboard.type(text)
        await keyboard.press("Tab")
    await tab_to(page, page.locator("#items-0-category_id"))
    await keyboard.type("Team")
    await expect(page.locator("#items-0-category_id option:checked")).to_contain_text("Team")
    for index, (first_name, last_name) in enumerate(TEAM):
        await tab_to(page, page.locator(f"#items-0-attendees-{index}-first_name"))
        await keyboard.type(first_name)
        await keyboard.press("Tab")
        await keyboard.type(last_name)
        await keyboard.press("Tab")
        await keyboard.type(f"{first_name.lower()}@team.example")
        await tab_to(page, page.get_by_role("button", name="Add attendee", exact=True))
        await keyboard.press("Enter")
        await expect(page.locator(f"#items-0-attendees-{index + 1}-first_name")).to_be_visible()
    await tab_to(page, page.locator("#items-0-attendees-4-first_name"))
    for text in ("Sam", "Team", "sam@team.example"):
        await keyboard.type(text)
        await keyboard.press("Tab")
    await screens.check(page, "08-create-example-2")
    await tab_to(page, page.get_by_role("button", name="Save and continue"))
    await keyboard.press("Enter")

    await expect(page.get_by_test_id("status")).to_have_text("PENDING", timeout=SAVED)
    await expect(page.get_by_test_id("total")).to_have_text("0.00 EUR")
    await expect(page.get_by_role("note")).to_contain_text("agree to your privacy policy")
    await tab_to(page, page.get_by_role("button", name="Mark as Completed"))
    await keyboard.press("Enter")
    await expect(page.get_by_test_id("status")).to_have_text("COMPLETE")
    await screens.check(page, "09-reservation-example-2-complete")

    await tab_to(page, page.get_by_role("button", name="Send tickets via email"))
    await keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Send tickets via email")
    await expect(dialog).to_be_visible()
    boxes = dialog.locator('input[name="ticket_id"]')
    await expect(boxes).to_have_count(5)
    for index in range(5):
        await expect(boxes.nth(index)).to_be_checked()
    await tab_to(page, dialog.get_by_role("button", name="Select none"))
    await keyboard.press("Enter")
    await expect(dialog.locator('input[name="ticket_id"]:checked')).to_have_count(0)
    await keyboard.press("Shift+Tab")
    await keyboard.press("Enter")  # "Select all"
    await expect(dialog.locator('input[name="ticket_id"]:checked')).to_have_count(5)
    await screens.check(page, "10-send-tickets-dialog-example-2")
    await tab_to(page, dialog.get_by_role("button", name="Send tickets"))
    await keyboard.press("Enter")
    await expect(page.get_by_role("status").first).to_contain_text("being emailed")

    await eventually(lambda: emails_sent(page, 5), within=30, what="5 emails sent")
    team = {f"{first.lower()}@team.example" for first, _ in [*TEAM, ("Sam", "Team")]}
    assert sorted(mails_to(stack, team)) == sorted(team)
    await screens.check(page, "11-reservation-example-2-emails-sent")


async def test_csv_with_a_bad_row_then_a_refused_reservation(
    page: Page, stack: Stack, screens: Screens, tmp_path: Path
) -> None:
    await sign_in(page, stack)
    await open_create_form(page)
    await fill_contact(page, "Sara", "Speaker-Manager", "sara@example.org")
    first = block(page, 0)
    await choose_category(first, "Speakers")
    await first.get_by_label("Upload a CSV file").check()
    csv = tmp_path / "speakers.csv"
    csv.write_text(
        "First name;Last name;E-Mail\n"
        "Grace;Hopper;grace@speakers.example\n"
        "Linus;Torvalds;linus-at-speakers\n"
        "Barbara;Liskov;barbara@speakers.example\n",
        encoding="utf-8",
    )
    await first.get_by_label("CSV file", exact=True).set_input_files(csv)
    await first.get_by_role("button", name="Upload CSV").click()
    await expect(page.get_by_test_id("row-errors")).to_have_text(
        "Line 3: email is not an email address"
    )
    await expect(page.locator("#items-0-attendees-1-email")).to_have_attribute(
        "aria-invalid", "true"
    )
    await expect(page.get_by_label("First name", exact=True).first).to_have_value("Sara")
    await screens.check(page, "12-csv-row-error")
    await page.locator("#items-0-attendees-1-email").fill("linus@speakers.example")
    await page.get_by_role("button", name="Save and continue").click()
    await expect(page.get_by_test_id("status")).to_have_text("PENDING", timeout=SAVED)
    await expect(page.get_by_test_id("tickets")).to_contain_text(
        "Linus Torvalds <linus@speakers.example>"
    )

    await page.goto(f"/backoffice/events/{SAMPLE_EVENT_SLUG}/reservations/new")
    await fill_contact(page, "Greedy", "Buyer", "greedy@example.org")
    first = block(page, 0)
    await choose_category(first, "General Admission")
    await first.get_by_label("Reserve empty seats").check()
    await first.get_by_label("Number of empty seats").fill("500")
    await page.get_by_role("button", name="Save and continue").click()
    await expect(page.get_by_test_id("form-alert")).to_contain_text(
        "The seats could not be reserved", timeout=SAVED
    )
    await expect(page.get_by_test_id("refusal")).to_contain_text(
        re.compile(r"500 seats asked in General Admission, \d+ available\.")
    )
    await expect(page.get_by_label("First name", exact=True).first).to_have_value("Greedy")
    await expect(first.get_by_label("Number of empty seats")).to_have_value("500")
    await screens.check(page, "13-refused")

    await page.goto(f"/backoffice/events/{SAMPLE_EVENT_SLUG}/reservations")
    await page.get_by_label("Status").select_option("REJECTED")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_test_id("reservations")).to_contain_text("Greedy Buyer")
    await expect(page.get_by_test_id("reservations")).not_to_contain_text("Sara")
    await page.get_by_label("Status").select_option("")
    await page.get_by_label("Contact name, email or company").fill("sara")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_test_id("reservations").locator("tbody tr")).to_have_count(1)
    await screens.check(page, "14-reservations-list")

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.goto("/backoffice/")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
