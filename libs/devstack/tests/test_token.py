"""Development JWTs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from boxoffice.devstack.token import main, mint_token, parse_ttl


def test_token_decodes_with_secret_and_carries_claims() -> None:
    secret = "s" * 40
    now = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    token = mint_token(
        secret, sub="dev", org="demo", roles=["organizer", "admin"], ttl=timedelta(hours=2), now=now
    )
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, secret, algorithms=["HS256"], options={"verify_exp": False})
    assert claims == {
        "sub": "dev",
        "org": "demo",
        "roles": ["organizer", "admin"],
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + 7200,
    }
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "t" * 40, algorithms=["HS256"], options={"verify_exp": False})


def test_fresh_token_is_valid_now() -> None:
    secret = "x" * 48
    token = mint_token(secret, sub="u1", org="o1", roles=[], ttl=timedelta(minutes=5))
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert claims["roles"] == []
    assert claims["exp"] - claims["iat"] == 300


def test_expired_token_is_rejected() -> None:
    secret = "y" * 48
    past = datetime.now(UTC) - timedelta(days=2)
    token = mint_token(secret, sub="u", org="o", roles=["a"], ttl=timedelta(days=1), now=past)
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token, secret, algorithms=["HS256"])


def test_cli_prints_token(capsys: pytest.CaptureFixture[str]) -> None:
    secret = "z" * 48
    assert (
        main(["--secret", secret, "--sub", "dev", "--org", "demo", "--roles", "organizer,admin"])
        == 0
    )
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert (claims["sub"], claims["org"], claims["roles"]) == (
        "dev",
        "demo",
        ["organizer", "admin"],
    )
    assert claims["exp"] - claims["iat"] == 30 * 24 * 3600


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("15m", timedelta(minutes=15)),
        ("90s", timedelta(seconds=90)),
        ("45", timedelta(seconds=45)),
    ],
)
def test_parse_ttl(text: str, expected: timedelta) -> None:
    assert parse_ttl(text) == expected


def test_parse_ttl_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_ttl("soon")
