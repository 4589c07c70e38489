"""JWT bearer authentication for the backoffice API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import jwt
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


def decode_token(token: str, *, secret: str, algorithm: str = "HS256") -> Principal:
    """Verify a token and read its principal; raises a 401 ``ApiError`` when invalid."""
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
    return Principal(sub=claims["sub"], org=claims["org"], roles=tuple(roles))


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
