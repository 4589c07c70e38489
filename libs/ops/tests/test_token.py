"""``python -m boxoffice.ops token``: development and operator JWTs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from boxoffice.chassis.auth import decode_token
from boxoffice.ops.__main__ import main as ops_main
from boxoffice.ops.token import mint_token, parse_ttl

SECRET = "ops-test-secret-that-is-long-enough-for-hs256"


def test_the_printed_token_carries_the_claims(capsys: pytest.CaptureFixture[str]) -> None:
    code = ops_main(
        ["token", "--org", "acme", "--sub", "ops@acme", "--roles", "organizer,admin",
         "--secret", SECRET, "--ttl", "2h"]
    )  # fmt: skip

    assert code == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), SECRET, algorithms=["HS256"])
    assert claims["org"] == "acme"
    assert claims["sub"] == "ops@acme"
    assert claims["roles"] == ["organizer", "admin"]
    assert claims["exp"] - claims["iat"] == 7200


def test_the_secret_may_come_from_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_file = tmp_path / "jwt_secret"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")

    assert ops_main(["token", "--org", "demo", "--secret-file", str(secret_file)]) == 0
    token = capsys.readouterr().out.strip()
    assert jwt.decode(token, SECRET, algorithms=["HS256"])["org"] == "demo"


def test_without_a_secret_it_refuses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BOXOFFICE_JWT_SECRET", raising=False)
    monkeypatch.chdir(tmp_path)

    assert ops_main(["token", "--org", "demo"]) == 2
    assert "no secret" in capsys.readouterr().err


def test_services_accept_the_token() -> None:
    now = datetime.now(UTC)
    token = mint_token(
        SECRET, sub="s", org="o", roles=["organizer"], ttl=timedelta(minutes=5), now=now
    )

    principal = decode_token(token, secret=SECRET)

    assert principal.org == "o"


def test_ttl_formats() -> None:
    assert parse_ttl("30d") == timedelta(days=30)
    assert parse_ttl("15m") == timedelta(minutes=15)
    assert parse_ttl("90") == timedelta(seconds=90)
    with pytest.raises(ValueError, match="invalid duration"):
        parse_ttl("soon")
