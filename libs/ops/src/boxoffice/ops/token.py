"""Backoffice JWTs for operators: ``python -m boxoffice.ops token --org ORG``.

HS256, claims ``sub``, ``org``, ``roles``, ``iat``, ``exp``: what the services accept with
the same secret (their ``JWT_SECRET``). The secret comes from ``--secret``,
``--secret-file``, ``$BOXOFFICE_JWT_SECRET`` or, on a ``make run`` checkout,
``.data/dev-secret``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

DEV_SECRET_FILE = Path(".data/dev-secret")
SECRET_VARIABLE = "BOXOFFICE_JWT_SECRET"  # noqa: S105 - the variable's name, not a secret

_TTL_RE = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_TTL_UNITS = {"": "seconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def mint_token(
    secret: str,
    *,
    sub: str,
    org: str,
    roles: Sequence[str],
    ttl: timedelta,
    now: datetime | None = None,
) -> str:
    """Sign an HS256 JWT carrying ``sub``, ``org``, ``roles``, ``iat`` and ``exp``.

    Args:
        secret: the services' ``JWT_SECRET``.
        sub: subject (user id).
        org: organization the user acts for.
        roles: role names, e.g. ``["organizer"]``.
        ttl: lifetime; ``exp = iat + ttl``.
        now: issue time (aware); the current time when None.
    """
    issued = (now or datetime.now(UTC)).astimezone(UTC)
    claims = {
        "sub": sub,
        "org": org,
        "roles": list(roles),
        "iat": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def parse_ttl(text: str) -> timedelta:
    """Parse ``30d``, ``12h``, ``15m``, ``90s`` or plain seconds.

    Raises:
        ValueError: unrecognised format.
    """
    match = _TTL_RE.match(text)
    if match is None:
        raise ValueError(f"invalid duration {text!r} (expected e.g. 30d, 12h, 15m, 90s)")
    amount, unit = match.groups()
    return timedelta(**{_TTL_UNITS[unit]: int(amount)})


def _ttl_arg(text: str) -> timedelta:
    try:
        return parse_ttl(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _secret(args: argparse.Namespace) -> str | None:
    if args.secret:
        return str(args.secret)
    if args.secret_file:
        return Path(args.secret_file).read_text(encoding="utf-8").strip()
    if os.environ.get(SECRET_VARIABLE):
        return os.environ[SECRET_VARIABLE]
    if DEV_SECRET_FILE.is_file():
        return DEV_SECRET_FILE.read_text(encoding="utf-8").strip()
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Print a freshly minted token."""
    parser = argparse.ArgumentParser(prog="python -m boxoffice.ops token", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--org", required=True, help="organization the token acts for")
    parser.add_argument("--sub", default="operator", help="subject (default: operator)")
    parser.add_argument(
        "--roles", default="organizer", help="comma-separated roles (default: organizer)"
    )
    parser.add_argument(
        "--ttl", type=_ttl_arg, default=timedelta(hours=12), help="lifetime (default: 12h)"
    )
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--secret", help="the services' JWT secret")
    secret.add_argument("--secret-file", help="a file holding the secret")
    args = parser.parse_args(argv)
    value = _secret(args)
    if not value:
        print(f"no secret: pass --secret/--secret-file or set {SECRET_VARIABLE}", file=sys.stderr)
        return 2
    roles = [role.strip() for role in args.roles.split(",") if role.strip()]
    print(mint_token(value, sub=args.sub, org=args.org, roles=roles, ttl=args.ttl))
    return 0


if __name__ == "__main__":
    sys.exit(main())
