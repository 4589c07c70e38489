"""Development JWTs (HS256) accepted by the services.

Print one with::

    python -m boxoffice.devstack.token --secret S --sub dev --org demo --roles organizer,admin
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import jwt

__all__ = ["main", "mint_token", "parse_ttl"]

_TTL_RE = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_TTL_UNITS = {"": "seconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def mint_token(
    secret: str,
    *,
    sub: str,
    org: str,
    roles: list[str],
    ttl: timedelta,
    now: datetime | None = None,
) -> str:
    """Sign an HS256 JWT carrying ``sub``, ``org``, ``roles``, ``iat`` and ``exp``.

    Args:
        secret: Shared HMAC secret (the services' ``JWT_SECRET``).
        sub: Subject (user id).
        org: Organisation the user acts for.
        roles: Role names, e.g. ``["organizer", "admin"]``.
        ttl: Lifetime; ``exp = iat + ttl``.
        now: Issue time (aware); the current time when None.

    Returns:
        The encoded token.
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
    """Parse ``"30d"``, ``"12h"``, ``"15m"``, ``"90s"`` or plain seconds.

    Args:
        text: The duration.

    Returns:
        The duration as a timedelta.

    Raises:
        ValueError: Unrecognised format.
    """
    match = _TTL_RE.match(text)
    if match is None:
        raise ValueError(f"invalid duration {text!r} (expected e.g. 30d, 12h, 15m, 90s)")
    amount, unit = match.groups()
    return timedelta(**{_TTL_UNITS[unit]: int(amount)})


def _ttl_arg(text: str) -> timedelta:
    try:
        return parse_ttl(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def main(argv: Sequence[str] | None = None) -> int:
    """Print a freshly minted token.

    Args:
        argv: Command-line arguments (``sys.argv[1:]`` when None).

    Returns:
        Process exit code.
    """
    parser = argparse.ArgumentParser(
        prog="python -m boxoffice.devstack.token", description="Mint a development JWT."
    )
    parser.add_argument("--secret", required=True, help="HS256 secret shared with the services")
    parser.add_argument("--sub", default="dev", help="subject (default: dev)")
    parser.add_argument("--org", default="demo", help="organisation (default: demo)")
    parser.add_argument(
        "--roles",
        default="organizer,admin",
        help="comma-separated roles (default: organizer,admin)",
    )
    parser.add_argument(
        "--ttl",
        type=_ttl_arg,
        default=timedelta(days=30),
        help="lifetime, e.g. 30d, 12h (default: 30d)",
    )
    args = parser.parse_args(argv)
    roles = [role.strip() for role in args.roles.split(",") if role.strip()]
    print(mint_token(args.secret, sub=args.sub, org=args.org, roles=roles, ttl=args.ttl))
    return 0


if __name__ == "__main__":
    sys.exit(main())
