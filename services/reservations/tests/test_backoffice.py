"""The backoffice web UI over HTTP (in process): sign-in, CSRF, forms and their outcomes.

The pages are an adapter of the same service functions as the JSON API; these tests
check what the adapter adds (cookie session, CSRF, form parsing, errors next to the
fields, redirects) and that every action really changes (or does not change) the state.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from boxoffice.contracts import HoldSeats, SendTickets
from boxoffice.reservations.sweeper import sweep_once
from services.reservations.tests.support import (
    ORG,
    Harness,
    SeedEvent,
    auth,
    example_1_body,
)

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """One database: the rules behind the pages run on both in the API tests."""
    return sqlite_url


def csrf_of(response: httpx.Response) -> str:
    """The CSRF token of the (first) form of a page."""
    match = _CSRF.search(response.text)
    assert match is not None, response.text[:500]
    return match.group(1)


async def sign_in(harness: Harness, org: str = ORG) -> None:
    """Sign the harness's client in through the sign-in page."""
    client = harness.client
    page = await client.get("/backoffice/sign-in")
    token = auth(org)["Authorization"].removeprefix("Bearer ")
    answer = await client.post(
        "/backoffice/sign-in",
        data={"csrf_token": csrf_of(page), "token": token, "next": "/backoffice/"},
    )
    assert answer.status_code == 303, answer.text


def example_1_form(seed: SeedEvent, csrf: str, **extra: str) -> dict[str, str]:
    """The guide's Example 1 as the create form sends it."""
    return {
        "csrf_token": csrf,
        "idempotency_key": "form-example-1",
        "contact-first_name": "Jane",
        "contact-last_name": "Doe",
        "contact-email": "jane.doe@example.org",
        "contact-company": "Example Org.",
        "items-0-category_mode": "existing",
        "items-0-category_id": str(seed.general_admission),
        "items-0-attendees_mode": "empty",
        "items-0-empty_seats": "9",
        "items-1-category_mode": "new",
        "items-1-new_name": "Group discount",
        "items-1-new_price": "0.00",
        "items-1-attendees_mode": "empty",
        "items-1-empty_seats": "1",
        "action": "save",
        **extra,
    }


async def _create_page(harness: Harness, seed: SeedEvent) -> httpx.Response:
    page = await harness.client.get(f"/backoffice/events/{seed.slug}/reservations/new")
    assert page.status_code == 200
    return page


async def _post_create(
    harness: Harness, seed: SeedEvent, data: dict[str, Any], **kwargs: Any
) -> httpx.Response:
    return await harness.client.post(
        f"/backoffice/events/{seed.slug}/reservations/new", data=data, **kwargs
    )


async def test_pages_require_a_sign_in_then_keep_the_token_in_a_strict_cookie(
    harness: Harness,
) -> None:
    client = harness.client
    redirected = await client.get("/backoffice/events/x")
    assert redirected.status_code == 303
    assert redirected.headers["location"] == "/backoffice/sign-in?next=%2Fbackoffice%2Fevents%2Fx"

    page = await client.get("/backoffice/sign-in")
    assert page.status_code == 200
    assert "HttpOnly" in page.headers["set-cookie"]
    forged = await client.post(
        "/backoffice/sign-in", data={"csrf_token": "forged", "token": "whatever"}
    )
    assert forged.status_code == 403
    wrong = await client.post(
        "/backoffice/sign-in", data={"csrf_token": csrf_of(page), "token": "not-a-jwt"}
    )
    assert wrong.status_code == 401
    assert "This token cannot be used" in wrong.text

    token = auth()["Authorization"].removeprefix("Bearer ")
    signed_in = await client.post(
        "/backoffice/sign-in",
        data={"csrf_token": csrf_of(page), "token": token, "next": "https://evil.example/"},
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/backoffice/"
    cookie = next(
        value
        for value in signed_in.headers.get_list("set-cookie")
        if value.startswith("boxoffice_session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Path=/backoffice" in cookie
    home = await client.get("/backoffice/")
    assert home.status_code == 200
    assert "Signed in as organizer@example.org (example-org)" in home.text
    assert "default-src 'none'" in home.headers["content-security-policy"]

    no_csrf = await client.post("/backoffice/sign-out", data={})
    assert no_csrf.status_code == 403
    out = await client.post("/backoffice/sign-out", data={"csrf_token": csrf_of(home)})
    assert out.status_code == 303
    assert (await client.get("/backoffice/")).status_code == 303


async def test_behind_a_gateway_the_authorization_header_is_enough(harness: Harness) -> None:
    seed = await harness.seed_event()
    page = await harness.client.get("/backoffice/", headers=auth())
    assert page.status_code == 200
    assert "My Awesome Event" in page.text
    assert "Sign out" not in page.text  # the gateway owns the session
    other = await harness.client.get(f"/backoffice/events/{seed.slug}", headers=auth("other-org"))
    assert other.status_code == 404
    assert "There is no such event or reservation in your organization." in other.text
    unknown = await harness.client.get(
        "/backoffice/reservations/00000000-0000-4000-8000-000000000000", headers=auth()
    )
    assert unknown.status_code == 404


async def test_event_page_shows_every_category_with_its_seats(harness: Harness) -> None:
    seed = await harness.seed_event()
    await sign_in(harness)
    page = await harness.client.get(f"/backoffice/events/{seed.slug}")
    assert page.status_code == 200
    rows = re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</tr>", page.text, re.S)
    cells = [re.sub(r"<[^>]+>", "|", row).split("|") for row in rows]
    table = {c[0]: [x.strip() for x in c if x.strip()][1:] for c in cells}
    assert table["General Admission"] == ["Public", "100.00 EUR", "Dynamic", "0", "0", "185"]
    assert table["Speakers"] == ["Hidden", "0.00 EUR", "10", "0", "0", "10"]
    assert table["Team"] == ["Hidden", "0.00 EUR", "5", "0", "0", "5"]
    assert "Create reservation" in page.text


async def test_save_and_continue_lands_on_the_reservation_page(harness: Harness) -> None:
    seed = await harness.seed_event()
    await sign_in(harness)
    form = await _create_page(harness, seed)
    assert "Speakers (hidden, 0.00 EUR, 10 available)" in form.text

    async with harness.inventory("hold"):
        saved = await _post_create(harness, seed, example_1_form(seed, csrf_of(form)))
    assert saved.status_code == 303, saved.text
    location = saved.headers["location"]
    assert location.endswith("?done=created")
    page = await harness.client.get(location)
    assert 'data-testid="status">PENDING<' in page.text
    assert 'data-testid="total">900.00 EUR<' in page.text
    assert "Group discount" in page.text
    assert "Mark as Completed" in page.text
    assert "agree to your privacy policy" in page.text
    [hold] = await harness.hold_commands()
    assert [line.quantity for line in hold.lines] == [9, 1]

    # The same form sent again (a double click) creates nothing more.
    async with harness.inventory("hold"):
        again = await _post_create(harness, seed, example_1_form(seed, csrf_of(form)))
    assert again.headers["location"] == location
    assert len(await harness.hold_commands()) == 1


async def test_bad_input_is_shown_next_to_the_fields_and_nothing_is_created(
    harness: Harness,
) -> None:
    seed = await harness.seed_event()
    await sign_in(harness)
    form = await _create_page(harness, seed)
    data = {
        "csrf_token": csrf_of(form),
        "contact-first_name": "Olivia",
        "contact-last_name": "",
        "contact-email": "olivia@example.org",
        "items-0-category_mode": "existing",
        "items-0-category_id": str(seed.team),
        "items-0-attendees_mode": "manual",
        "items-0-attendees-0-first_name": "Paul",
        "items-0-attendees-0-last_name": "Team",
        "items-0-attendees-0-email": "paul-at-example.org",
        "action": "save",
    }
    answer = await _post_create(harness, seed, data)
    assert answer.status_code == 422
    assert 'id="contact-last_name-error">Required.' in answer.text
    assert "Email: " in answer.text
    assert 'value="paul-at-example.org"' in answer.text
    assert await harness.hold_commands() == []

    forged = await _post_create(harness, seed, {**data, "csrf_token": "x"})
    assert forged.status_code == 403


async def test_a_refusal_is_explained_per_category_and_the_input_kept(harness: Harness) -> None:
    seed = await harness.seed_event()
    await sign_in(harness)
    form = await _create_page(harness, seed)
    async with harness.inventory("refuse"):
        refused = await _post_create(harness, seed, example_1_form(seed, csrf_of(form)))
    assert refused.status_code == 409
    assert "The seats could not be reserved: not enough seats" in refused.text
    assert "9 seats asked in General Admission, 0 available." in refused.text
    assert 'value="Jane"' in refused.text
    assert 'value="Group discount"' in refused.text
    assert 'value="form-example-1"' not in refused.text  # a new try gets a new key


async def test_a_csv_upload_shows_row_errors_and_saves_once_fixed(harness: Harness) -> None:
    seed = await harness.seed_event()
    await sign_in(harness)
    form = await _create_page(harness, seed)
    data = {
        "csrf_token": csrf_of(form),
        "contact-first_name": "Olivia",
        "contact-last_name": "Organizer",
        "contact-email": "olivia@example.org",
        "items-0-category_mode": "existing",
        "items-0-category_id": str(seed.speakers),
        "items-0-attendees_mode": "csv",
        "action": "upload:0",
    }
    csv = b"first name,last name,email\nAda,Lovelace,ada@example.org\nAlan,Turing,alan-at-x\n"
    uploaded = await _post_create(
        harness, seed, data, files={"items-0-csv": ("speakers.csv", csv, "text/csv")}
    )
    assert uploaded.status_code == 422
    assert "Line 3: email is not an email address" in uploaded.text
    assert 'value="alan-at-x"' in uploaded.text
    assert await harness.hold_commands() == []

    fixed = {
        **data,
        "csrf_token": csrf_of(uploaded),
        "items-0-attendees_mode": "manual",
        "items-0-attendees-0-first_name": "Ada",
        "items-0-attendees-0-last_name": "Lovelace",
        "items-0-attendees-0-email": "ada@example.org",
        "items-0-attendees-1-first_name": "Alan",
        "items-0-attendees-1-last_name": "Turing",
        "items-0-attendees-1-email": "alan@example.org",
        "action": "save",
    }
    async with harness.inventory("hold"):
        saved = await _post_create(harness, seed, fixed)
    assert saved.status_code == 303, saved.text
    [hold] = await harness.hold_commands()
    assert hold.lines[0].quantity == 2


async def test_complete_send_tickets_and_refused_transitions(harness: Harness) -> None:
    seed = await harness.seed_event()
    response = await harness.create(
        seed,
        {
            "contact": {"first_name": "Olivia", "last_name": "Organizer", "email": "o@example.org"},
            "items": [
                {
                    "category": {"id": str(seed.team)},
                    "attendees": [
                        {"first_name": "Paul", "last_name": "Team", "email": "paul@example.org"},
                        {"first_name": "Quinn", "last_name": "Team"},
                    ],
                }
            ],
        },
    )
    reservation_id = response.json()["id"]
    await sign_in(harness)
    url = f"/backoffice/reservations/{reservation_id}"
    page = await harness.client.get(url)
    csrf = csrf_of(page)

    completed = await harness.client.post(f"{url}/complete", data={"csrf_token": csrf})
    assert completed.status_code == 303
    page = await harness.client.get(completed.headers["location"])
    assert 'data-testid="status">COMPLETE<' in page.text
    assert "Send tickets via email" in page.text
    assert "not sendable: no attendee name and email yet" in page.text
    assert 'name="expires_at"' not in page.text  # final: no Update
    without_script = await harness.client.get(f"{url}/send-tickets")
    assert without_script.status_code == 200
    assert without_script.text.count('name="ticket_id"') == 1  # Quinn has no email
    assert "Unassigned seat" in without_script.text

    cancelled = await harness.client.post(f"{url}/cancel", data={"csrf_token": csrf})
    assert cancelled.status_code == 409
    assert "Not done: cannot cancel a reservation that is COMPLETE." in cancelled.text

    none = await harness.client.post(f"{url}/send-tickets", data={"csrf_token": csrf})
    assert none.status_code == 422
    paul = next(t["id"] for t in response.json()["tickets"] if t["first_name"] == "Paul")
    sent = await harness.client.post(
        f"{url}/send-tickets", data={"csrf_token": csrf, "ticket_id": paul}
    )
    assert sent.status_code == 303
    [command] = await harness.messages(SendTickets)
    assert isinstance(command, SendTickets)
    assert [ticket.attendee_email for ticket in command.tickets] == ["paul@example.org"]
    page = await harness.client.get(sent.headers["location"])
    assert 'paul@example.org</td><td class="email-queued">queued' in page.text
    assert "tickets sent" in page.text  # audit log


async def test_expiry_update_cancel_and_the_filtered_list(harness: Harness) -> None:
    seed = await harness.seed_event()
    first = (await harness.create(seed, example_1_body(seed))).json()
    await sign_in(harness)
    url = f"/backoffice/reservations/{first['id']}"
    csrf = csrf_of(await harness.client.get(url))

    bad = await harness.client.post(f"{url}/expiry", data={"csrf_token": csrf, "expires_at": ""})
    assert bad.status_code == 422
    past = await harness.client.post(
        f"{url}/expiry", data={"csrf_token": csrf, "expires_at": "2030-03-01T10:00"}
    )
    assert past.status_code == 422
    assert "expires_at must be in the future" in past.text
    moved = await harness.client.post(
        f"{url}/expiry", data={"csrf_token": csrf, "expires_at": "2030-03-20T18:30"}
    )
    assert moved.status_code == 303
    view = (await harness.client.get(f"/v1/reservations/{first['id']}", headers=auth())).json()
    assert view["expires_at"].startswith("2030-03-20T18:30:00+01:00")

    second = (await harness.create(seed, example_1_body(seed))).json()
    cancelled = await harness.client.post(
        f"/backoffice/reservations/{second['id']}/cancel", data={"csrf_token": csrf}
    )
    assert cancelled.status_code == 303

    listing = f"/backoffice/events/{seed.slug}/reservations"
    everything = await harness.client.get(listing)
    assert "2 reservations" in everything.text
    only_cancelled = await harness.client.get(listing, params={"status": "CANCELLED"})
    assert "1 reservation<" in only_cancelled.text
    assert second["code"] in only_cancelled.text
    assert first["code"] not in only_cancelled.text
    searched = await harness.client.get(listing, params={"q": "example org"})
    assert "2 reservations" in searched.text
    nobody = await harness.client.get(listing, params={"q": "nobody"})
    assert "0 reservations" in nobody.text
    assert all(isinstance(m, HoldSeats) for m in await harness.hold_commands())


async def test_add_seats_if_not_available_reaches_the_hold(harness: Harness) -> None:
    seed = await harness.seed_event()
    await sign_in(harness)
    form = await _create_page(harness, seed)
    data = example_1_form(seed, csrf_of(form), add_seats_if_not_available="on")
    async with harness.inventory("hold"):
        saved = await _post_create(harness, seed, data)
    assert saved.status_code == 303
    [hold] = await harness.hold_commands()
    assert hold.add_seats_if_not_available is True


async def test_an_expired_reservation_is_reinstated(harness: Harness) -> None:
    seed = await harness.seed_event()
    created = (await harness.create(seed, example_1_body(seed))).json()
    harness.clock.advance(timedelta(days=3))
    assert await sweep_once(harness.runtime.sessions, harness.context.service) == 1
    await sign_in(harness)
    url = f"/backoffice/reservations/{created['id']}"
    page = await harness.client.get(url)
    assert 'data-testid="status">EXPIRED<' in page.text
    assert "Reinstate" in page.text
    assert 'name="expires_at"' not in page.text

    async with harness.inventory("hold"):
        reinstated = await harness.client.post(
            f"{url}/reinstate", data={"csrf_token": csrf_of(page)}
        )
    assert reinstated.status_code == 303
    assert reinstated.headers["location"].endswith("?done=reinstated")
    page = await harness.client.get(reinstated.headers["location"])
    assert 'data-testid="status">PENDING<' in page.text
    assert "reinstate requested" in page.text


async def test_a_changed_form_resent_with_its_old_key_is_not_saved(harness: Harness) -> None:
    seed = await harness.seed_event()
    await sign_in(harness)
    form = await _create_page(harness, seed)
    async with harness.inventory("hold"):
        saved = await _post_create(harness, seed, example_1_form(seed, csrf_of(form)))
        assert saved.status_code == 303
        changed = example_1_form(seed, csrf_of(form), **{"items-0-empty_seats": "8"})
        resent = await _post_create(harness, seed, changed)
        assert resent.status_code == 409
        assert "This form was saved already" in resent.text
        stale = await _post_create(harness, seed, {**changed, "action": "remove-row:7:0"})
        assert stale.status_code == 200
    assert len(await harness.hold_commands()) == 1
