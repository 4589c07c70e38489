"""Queueing and delivering emails against a real SMTP server, on SQLite and PostgreSQL.

The handler is driven as the chassis consumer drives it (inbox claim + handler in one
transaction) and the dispatcher runs in the background, as in the service.
"""

from __future__ import annotations

import asyncio
import io
import logging
import uuid
from email.message import EmailMessage

import pypdf
import pypdfium2
import pytest
import zxingcpp
from icalendar import Calendar

from boxoffice.chassis.ticket_codes import verify_ticket_code
from boxoffice.contracts import EmailFailed, EmailRetrying, EmailSent, SendTickets
from boxoffice.notifications.models import EmailKind, EmailStatus
from boxoffice.notifications.service import DeliveryResult
from services.notifications.tests.support import (
    TICKET_CODE_SECRET,
    SmtpRecorder,
    deliver_command,
    emails,
    event_types,
    eventually,
    free_port,
    make_event,
    make_settings,
    make_ticket,
    notifications_service,
    published_events,
    rewrap,
    send_reservation_link,
    send_tickets,
    wrap,
)


def _attachments(message: EmailMessage) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for part in message.iter_attachments():
        assert isinstance(part, EmailMessage)
        filename = part.get_filename()
        assert filename is not None
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        found[filename] = payload
    return found


def _body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert isinstance(part, EmailMessage)
    content = part.get_content()
    assert isinstance(content, str)
    return content


def _qr_codes(pdf: bytes) -> list[str]:
    page = pypdfium2.PdfDocument(pdf)[0]
    image = page.render(scale=2).to_pil()
    return [result.text for result in zxingcpp.read_barcodes(image)]


async def test_each_ticket_is_emailed_to_its_attendee_with_pdf_and_calendar(
    database_url: str, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, port = smtp
    event = make_event()
    reservation_id = uuid.uuid4()
    tickets = [
        make_ticket(event, reservation_id, first_name="Ada", last_name="Lovelace"),
        make_ticket(event, reservation_id, first_name="Alan", last_name="Turing", category="VIP"),
    ]
    command = wrap(
        SendTickets(
            reservation_id=reservation_id, event=event, requested_by="org-1", tickets=tickets
        )
    )
    async with notifications_service(make_settings(database_url, port)) as notifications:
        assert await deliver_command(notifications, command)
        await eventually(lambda: recorder.count() == 2, what="two mails received")

        received = {
            str(message["To"].addresses[0].addr_spec): message for message in recorder.messages()
        }
        assert set(received) == {ticket.attendee_email for ticket in tickets}
        for ticket in tickets:
            message = received[ticket.attendee_email]
            name = f"{ticket.attendee_first_name} {ticket.attendee_last_name}"
            assert message["Message-ID"] == f"<{ticket.email_id}@boxoffice.localhost>"
            assert message["From"] == "boxoffice <tickets@boxoffice.localhost>"
            assert message["Subject"] == "Your ticket for Swiss Python Summit"
            text, html = _body(message, "plain"), _body(message, "html")
            for body in (text, html):
                assert "Swiss Python Summit" in body
                assert "Saturday, 14 March 2026, 19:30 \u2013 23:00 (CET)" in body  # Zurich time
                assert ticket.category_name in body
                assert name in body
                assert str(reservation_id) in body

            files = _attachments(message)
            assert set(files) == {f"ticket-{ticket.ticket_id}.pdf", "event.ics"}
            pdf = files[f"ticket-{ticket.ticket_id}.pdf"]
            pdf_text = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
            for expected in (
                name,
                "Swiss Python Summit",
                ticket.category_name,
                str(reservation_id),
            ):
                assert expected in pdf_text
            [code] = _qr_codes(pdf)
            assert code == ticket.ticket_code
            verified = verify_ticket_code(TICKET_CODE_SECRET, code)
            assert verified.ticket_id == ticket.ticket_id
            assert verified.reservation_id == reservation_id

            [vevent] = Calendar.from_ical(files["event.ics"]).events
            assert vevent.start == event.starts_at
            assert vevent.end == event.ends_at
            assert str(vevent["summary"]) == "Swiss Python Summit"

        async def both_sent() -> bool:
            return [e.status for e in await emails(notifications)] == [EmailStatus.SENT] * 2

        await eventually(both_sent, what="both emails recorded as sent")
        stored = await emails(notifications)
        assert {e.id for e in stored} == {ticket.email_id for ticket in tickets}
        for email in stored:
            assert email.kind == EmailKind.TICKET
            assert email.attempts == 1
            assert email.sent_at is not None
            assert email.last_error is None
            assert email.next_attempt_at is None
            assert email.content is None  # attendee data dropped once final
        events = await published_events(notifications)
        assert event_types(events) == ["EmailSent", "EmailSent"]
        for envelope in events:
            assert isinstance(envelope.data, EmailSent)
            assert envelope.data.attempts == 1
            assert envelope.causationid == command.id
            assert envelope.correlationid == str(reservation_id)
            assert envelope.source == "boxoffice.notifications"
        sent = {e.data.email_id: e.data for e in events if isinstance(e.data, EmailSent)}
        for ticket in tickets:
            assert sent[ticket.email_id].ticket_id == ticket.ticket_id
            assert sent[ticket.email_id].to == ticket.attendee_email


async def test_temporary_refusals_are_retried_until_accepted(
    database_url: str, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, port = smtp
    recorder.data_replies.extend(["421 4.3.2 Service not available, try again later"] * 2)
    command = send_tickets(1)
    settings = make_settings(database_url, port, smtp_max_attempts=5)
    async with notifications_service(settings) as notifications:
        await deliver_command(notifications, command)

        async def sent() -> bool:
            return [e.status for e in await emails(notifications)] == [EmailStatus.SENT]

        await eventually(sent, what="email sent after two refusals")
        [email] = await emails(notifications)
        events = await published_events(notifications)

    assert recorder.data_commands == 3
    assert recorder.count() == 1
    assert email.attempts == 3
    assert email.last_error is None
    assert event_types(events) == ["EmailRetrying", "EmailRetrying", "EmailSent"]
    retrying = [e.data for e in events if isinstance(e.data, EmailRetrying)]
    assert [r.attempts for r in retrying] == [1, 2]
    assert all(r.last_error.startswith("421 4.3.2") for r in retrying)
    assert isinstance(events[-1].data, EmailSent)
    assert events[-1].data.attempts == 3
    assert len({e.id for e in events}) == 3


async def test_an_unreachable_server_fails_the_email_after_the_last_attempt(
    database_url: str,
) -> None:
    closed_port = free_port()
    command = send_tickets(1)
    settings = make_settings(database_url, closed_port, smtp_max_attempts=3)
    async with notifications_service(settings) as notifications:
        await deliver_command(notifications, command)

        async def failed() -> bool:
            return [e.status for e in await emails(notifications)] == [EmailStatus.FAILED]

        await eventually(failed, what="email failed")
        [email] = await emails(notifications)
        events = await published_events(notifications)

    assert email.attempts == 3
    assert email.last_error
    assert email.next_attempt_at is None
    assert event_types(events) == ["EmailRetrying", "EmailRetrying", "EmailFailed"]
    failure = events[-1].data
    assert isinstance(failure, EmailFailed)
    assert failure.attempts == 3
    assert failure.last_error == email.last_error
    assert failure.to == command.data.tickets[0].attendee_email


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
async def test_a_permanent_refusal_fails_at_once_without_personal_data_in_logs(
    database_url: str,
    smtp: tuple[SmtpRecorder, int],
    stage: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder, port = smtp
    command = send_tickets(1, first_name="Hedy", last_name="Lamarr")
    address = command.data.tickets[0].attendee_email
    reply = f"550 5.1.1 <{address}>: Recipient address rejected"
    (recorder.rcpt_replies if stage == "RCPT" else recorder.data_replies).append(reply)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="boxoffice")
    async with notifications_service(make_settings(database_url, port)) as notifications:
        await deliver_command(notifications, command)

        async def failed() -> bool:
            return [e.status for e in await emails(notifications)] == [EmailStatus.FAILED]

        await eventually(failed, what="email failed")
        [email] = await emails(notifications)
        events = await published_events(notifications)

    assert recorder.count() == 0
    assert email.attempts == 1
    assert email.last_error == "550 5.1.1 <<email>>: Recipient address rejected"
    assert event_types(events) == ["EmailFailed"]
    service_records = [r for r in caplog.records if r.name != "mail.log"]  # the test server
    assert any(r.name.startswith("boxoffice.notifications") for r in service_records)
    for record in service_records:
        line = f"{record.getMessage()} {record.__dict__}"
        for personal in (address, "Hedy", "Lamarr"):
            assert personal not in line, record.getMessage()


async def test_a_command_handled_twice_sends_each_email_once(
    database_url: str, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, port = smtp
    command = send_tickets(2)
    async with notifications_service(make_settings(database_url, port)) as notifications:
        # Redelivered (same envelope id) and re-published (new ids), even concurrently.
        handled = await asyncio.gather(
            deliver_command(notifications, command),
            deliver_command(notifications, rewrap(command)),
            deliver_command(notifications, rewrap(command)),
        )
        assert await deliver_command(notifications, command) is False  # the inbox drops it
        assert list(handled) == [True, True, True]

        async def all_sent() -> bool:
            return [e.status for e in await emails(notifications)] == [EmailStatus.SENT] * 2

        await eventually(all_sent, what="emails sent")
        assert recorder.count() == 2
        assert event_types(await published_events(notifications)) == ["EmailSent"] * 2

        # An explicit re-send comes with new email ids: it is sent again.
        resend = wrap(
            command.data.model_copy(
                update={
                    "tickets": [
                        ticket.model_copy(update={"email_id": uuid.uuid4()})
                        for ticket in command.data.tickets
                    ]
                }
            )
        )
        await deliver_command(notifications, resend)

        async def resent() -> bool:
            return [e.status for e in await emails(notifications)] == [EmailStatus.SENT] * 4

        await eventually(resent, what="re-sent emails sent")
        assert recorder.count() == 4


async def test_the_reservation_link_goes_to_the_contact(
    database_url: str, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, port = smtp
    command = send_reservation_link(language="it")
    async with notifications_service(make_settings(database_url, port)) as notifications:
        await deliver_command(notifications, command)
        await eventually(lambda: recorder.count() == 1, what="mail received")
        [message] = recorder.messages()

        async def sent() -> bool:
            return [e.status for e in await emails(notifications)] == [EmailStatus.SENT]

        await eventually(sent, what="recorded as sent")
        [email] = await emails(notifications)

    assert email.kind == EmailKind.RESERVATION_LINK
    assert email.ticket_id is None
    assert message["To"].addresses[0].addr_spec == "grace@example.org"
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "Completa la tua prenotazione per Swiss Python Summit"
    text, html = _body(message, "plain"), _body(message, "html")
    assert "https://boxoffice.example/r/tok3n?x=1&y=2" in text
    assert 'href="https://boxoffice.example/r/tok3n?x=1&amp;y=2"' in html
    for body in (text, html):
        assert "CHF 1.234,50" in body
        assert "domenica 1 marzo 2026, 23:59 (CET)" in body
        assert "sabato 14 marzo 2026, 19:30 \u2013 23:00 (CET)" in body


async def test_an_email_whose_sender_died_is_sent_after_the_lease(
    database_url: str, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, port = smtp
    command = send_tickets(1)
    crashing = make_settings(
        database_url, port, dispatcher_lease_seconds=0.3, smtp_timeout_seconds=0.1
    )
    async with notifications_service(crashing, dispatching=False) as dead:
        await deliver_command(dead, command)
        async with dead.runtime.sessions.begin() as session:
            [claim] = await dead.emails.claim_due_emails(session, 10)
        # The process "dies" here: the claim is never recorded.

        async with notifications_service(make_settings(database_url, port)) as survivor:

            async def sent() -> bool:
                return [e.status for e in await emails(survivor)] == [EmailStatus.SENT]

            await eventually(sent, what="sent by the surviving dispatcher")

        # A late outcome of the lost attempt does not count twice.
        async with dead.runtime.sessions.begin() as session:
            assert await dead.emails.record_delivery(session, claim, DeliveryResult.sent()) is None
        [email] = await emails(dead)
        events = await published_events(dead)

    assert recorder.count() == 1
    assert email.attempts == 2
    assert event_types(events) == ["EmailSent"]


async def test_an_interrupted_last_attempt_fails_the_email(
    database_url: str, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, port = smtp
    settings = make_settings(
        database_url,
        port,
        smtp_max_attempts=1,
        dispatcher_lease_seconds=0.3,
        smtp_timeout_seconds=0.1,
    )
    async with notifications_service(settings, dispatching=False) as notifications:
        await deliver_command(notifications, send_tickets(1))
        async with notifications.runtime.sessions.begin() as session:
            assert len(await notifications.emails.claim_due_emails(session, 10)) == 1

        async def failed() -> bool:
            await notifications.dispatcher.dispatch_due()
            return [e.status for e in await emails(notifications)] == [EmailStatus.FAILED]

        await eventually(failed, what="failed once the lease ran out")
        [email] = await emails(notifications)
        events = await published_events(notifications)

    assert recorder.count() == 0
    assert email.attempts == 1
    assert email.last_error is not None
    assert "interrupted" in email.last_error
    assert event_types(events) == ["EmailFailed"]


async def test_two_dispatchers_never_send_the_same_email(
    database_url: str, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, port = smtp
    command = send_tickets(24)
    settings = make_settings(database_url, port, smtp_concurrency=4)
    async with (
        notifications_service(settings) as first,
        notifications_service(settings) as second,
    ):
        await deliver_command(first, command)

        async def all_sent() -> bool:
            return [e.status for e in await emails(first)] == [EmailStatus.SENT] * 24

        await eventually(all_sent, what="all emails sent")
        events = await published_events(second)

    message_ids = [str(message["Message-ID"]) for message in recorder.messages()]
    assert len(message_ids) == 24
    assert len(set(message_ids)) == 24
    assert event_types(events) == ["EmailSent"] * 24


async def test_worker_processes_write_the_same_emails(
    sqlite_url: str, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, port = smtp
    event = make_event()
    reservation_id = uuid.uuid4()
    tickets = [
        make_ticket(event, reservation_id, first_name=f"Guest{index}", last_name="Worker")
        for index in range(4)
    ]
    command = wrap(
        SendTickets(
            reservation_id=reservation_id, event=event, requested_by="org-1", tickets=tickets
        )
    )
    settings = make_settings(sqlite_url, port, render_processes=2)
    async with notifications_service(settings) as notifications:
        assert notifications.dispatcher._render_pool is not None
        assert await deliver_command(notifications, command)
        await eventually(lambda: recorder.count() == 4, within=60, what="four mails received")
        by_address = {
            str(message["To"].addresses[0].addr_spec): message for message in recorder.messages()
        }
        for ticket in tickets:
            files = _attachments(by_address[ticket.attendee_email])
            pdf = files[f"ticket-{ticket.ticket_id}.pdf"]
            assert f"{ticket.attendee_first_name} Worker" in (
                pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
            )
            assert _qr_codes(pdf) == [ticket.ticket_code]

        async def all_sent() -> bool:
            return [e.status for e in await emails(notifications)] == [EmailStatus.SENT] * 4

        await eventually(all_sent, what="all four recorded as sent")
