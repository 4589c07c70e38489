"""SMTP sink: exact .eml copies, atomic files, parsing, and the CLI."""

from __future__ import annotations

import re
import signal
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

from boxoffice.devstack.broker import free_port, port_is_free
from boxoffice.devstack.mailsink import MailSink, read_messages

_NAME = re.compile(
    r"^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.eml$"
)


def _multipart(subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Box Office <noreply@boxoffice.test>"
    msg["To"] = "guest@example.test"
    msg["Subject"] = subject
    msg.set_content("Your reservation is confirmed.\n.leading dot line\n")
    msg.add_alternative("<p>Your reservation is <b>confirmed</b>.</p>", subtype="html")
    msg.add_attachment(b"\x00\x01ticket", maintype="application", subtype="pdf", filename="t.pdf")
    return msg


def _wire_bytes(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def test_stores_exact_copy_and_parses(tmp_path: Path) -> None:
    mail_dir = tmp_path / "mail"
    msg = _multipart("Bestätigung Été")
    with MailSink("127.0.0.1", 0, mail_dir) as sink:
        with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
            client.sendmail(
                "noreply@boxoffice.test",
                ["guest@example.test", "audit@example.test"],
                _wire_bytes(msg),
            )
        files = sorted(mail_dir.iterdir())
        assert len(files) == 1
        assert _NAME.match(files[0].name), files[0].name
        assert files[0].read_bytes() == _wire_bytes(msg)
        parsed = sink.messages()
    assert port_is_free("127.0.0.1", sink.port)

    assert len(parsed) == 1
    got = parsed[0]
    assert got["Subject"] == "Bestätigung Été"
    assert got["To"] == "guest@example.test"
    assert "X-Boxoffice-Envelope-To" not in got
    assert got.is_multipart()
    body = got.get_body(preferencelist=("plain",))
    assert body is not None
    assert ".leading dot line" in body.get_content()
    html = got.get_body(preferencelist=("html",))
    assert html is not None
    assert "<b>confirmed</b>" in html.get_content()
    attachments = list(got.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["t.pdf"]
    assert attachments[0].get_content() == b"\x00\x01ticket"


def test_messages_sorted_and_temp_files_ignored(tmp_path: Path) -> None:
    with MailSink("127.0.0.1", 0, tmp_path) as sink:
        with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
            for n in range(3):
                client.send_message(_multipart(f"n{n}"))
    (tmp_path / ".half-written.eml.tmp").write_bytes(b"Subject: partial\r\n")
    assert [m["Subject"] for m in read_messages(tmp_path)] == ["n0", "n1", "n2"]
    assert read_messages(tmp_path / "missing") == []


def test_cli_runs_until_sigterm(tmp_path: Path) -> None:
    port = free_port()
    mail_dir = tmp_path / "mail"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "boxoffice.devstack.mailsink",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(mail_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert "listening on 127.0.0.1" in proc.stdout.readline()
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.send_message(_multipart("via cli"))
        assert [m["Subject"] for m in read_messages(mail_dir)] == ["via cli"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 10
    while not port_is_free("127.0.0.1", port):
        assert time.monotonic() < deadline, "port not released"
        time.sleep(0.05)
