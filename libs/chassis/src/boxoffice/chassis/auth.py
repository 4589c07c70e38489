"""JWT bearer authentication for the backoffice API."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import jwt
from cachetools import TLRUCache
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from boxoffice.chassis.errors import ApiError
from boxoffice.chassis.settings import ServiceSettings

_bearer = HTTPBearer(auto_error=False, description="JWT with claims sub, org, roles")


@dataclass(frozen=True)
class Principal:
    """Who calls: the token's subject, organization and roles."""

    sub: str
    org: str
    roles: tuple[str, ...]


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "UNAUTHORIZED", message, headers={"WWW-Authenticate": "Bearer"})


_TokenKey = tuple[str, str, str]


def verified_tokens(
    maxsize: int = 4096, timer: Callable[[], float] = time.time
) -> TLRUCache[_TokenKey, tuple[Principal, float]]:
    """Tokens already verified, each kept until its ``exp`` (then verified again).

    A gateway sends the same token with many requests: checking its signature and
    claims once saves that work on every later request. An expired entry is dropped,
    so an expired token gets its 401 from the full verification.
    """
    return TLRUCache(maxsize=maxsize, ttu=lambda _key, value, _now: value[1], timer=timer)


_verified = verified_tokens()


def decode_token(token: str, *, secret: str, algorithm: str = "HS256") -> Principal:
    """Verify a token and read its principal; raises a 401 ``ApiError`` when invalid."""
    key = (token, secret, algorithm)
    known = _verified.get(key)
    if known is not None:
        return known[0]
    principal, expires_at = _verify(token, secret=secret, algorithm=algorithm)
    _verified[key] = (principal, expires_at)
    return principal


def _verify(token: str, *, secret: str, algorithm: str) -> tuple[Principal, float]:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[algorithm], options={"require": ["sub", "org", "exp"]}
        )
    except jwt.ExpiredSignatureError as error:
        raise _unauthorized("the token has expired") from error
    except jwt.PyJWTError as error:
        raise _unauthorized("the token is not valid") from error
    roles = claims.get("roles", [])
    if not isinstance(claims["sub"], str) or not isinstance(claims["org"], str):
        raise _unauthorized("the token's sub and org must be strings")
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise _unauthorized("the token's roles must be a list of strings")
    principal = Principal(sub=claims["sub"], org=claims["org"], roles=tuple(roles))
    return principal, float(claims["exp"])


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """FastAPI dependency: the authenticated caller, or a 401."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("a bearer token is required")
    settings: ServiceSettings = request.app.state.settings
    return decode_token(
        credentials.credentials,
        secret=settings.jwt_secret_value,
        algorithm=settings.jwt_algorithm,
    )


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
