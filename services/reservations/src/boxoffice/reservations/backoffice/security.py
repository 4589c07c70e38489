"""Who uses the backoffice pages, and proof that a form was sent from one of them.

Behind a gateway the JWT arrives in ``Authorization``; used directly, the sign-in page
keeps it in an HttpOnly, SameSite=Strict cookie scoped to ``/backoffice``. Every form
carries a CSRF token: a signed, timed digest of the credential the page was rendered
for (or, before sign-in, of a random cookie), checked on every POST.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import FormData

from boxoffice.chassis.auth import Principal, decode_token
from boxoffice.chassis.errors import ApiError
from boxoffice.reservations.api.deps import ContextDep, ReservationsContext

SESSION_COOKIE = "boxoffice_session"
PRESESSION_COOKIE = "boxoffice_csrf"
COOKIE_PATH = "/backoffice"
CSRF_FIELD = "csrf_token"
CSRF_MAX_AGE_SECONDS = 12 * 3600
MAX_FORM_FIELDS = 20_000


def _serializer(context: ReservationsContext) -> URLSafeTimedSerializer:
    # A key of its own, derived from the JWT secret (itself refused when unsafe).
    key = hmac.new(
        context.settings.jwt_secret_value.encode(), b"boxoffice.backoffice-csrf", hashlib.sha256
    ).hexdigest()
    return URLSafeTimedSerializer(key, salt="backoffice-form")


def _binding(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


def csrf_token(context: ReservationsContext, credential: str) -> str:
    """The token the forms of a page rendered for ``credential`` carry."""
    return str(_serializer(context).dumps(_binding(credential)))


def csrf_valid(context: ReservationsContext, token: str, credential: str) -> bool:
    """Whether ``token`` was issued, recently, for ``credential``."""
    try:
        bound = _serializer(context).loads(token, max_age=CSRF_MAX_AGE_SECONDS)
    except BadSignature:
        return False
    return isinstance(bound, str) and hmac.compare_digest(bound, _binding(credential))


@dataclass(frozen=True)
class Visitor:
    """A signed-in organizer: the token's principal and the CSRF token of its forms."""

    principal: Principal
    credential: str
    csrf: str
    via_cookie: bool


def _sign_in_redirect(request: Request, reason: str | None = None) -> ApiError:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"{COOKIE_PATH}/sign-in?next={quote(target, safe='')}"
    if reason:
        location += f"&reason={reason}"
    return ApiError(303, "SIGN_IN_REQUIRED", "sign in first", headers={"Location": location})


async def current_visitor(request: Request, context: ContextDep) -> Visitor:
    """The organizer behind the request, or a redirect (303) to the sign-in page."""
    header = request.headers.get("authorization", "")
    scheme, _, bearer = header.partition(" ")
    via_cookie = not (scheme.lower() == "bearer" and bearer.strip())
    credential = request.cookies.get(SESSION_COOKIE, "") if via_cookie else bearer.strip()
    if not credential:
        raise _sign_in_redirect(request)
    try:
        principal = decode_token(
            credential,
            secret=context.settings.jwt_secret_value,
            algorithm=context.settings.jwt_algorithm,
        )
    except ApiError as error:
        if not via_cookie:
            raise
        raise _sign_in_redirect(request, "expired") from error
    return Visitor(principal, credential, csrf_token(context, credential), via_cookie)


VisitorDep = Annotated[Visitor, Depends(current_visitor)]


async def checked_form(request: Request, context: ReservationsContext, credential: str) -> FormData:
    """The posted form, once its CSRF token is proven to belong to ``credential`` (else 403)."""
    form = await request.form(max_fields=MAX_FORM_FIELDS)
    token = form.get(CSRF_FIELD)
    if not isinstance(token, str) or not csrf_valid(context, token, credential):
        raise ApiError(
            403, "CSRF_FAILED", "the form has expired or was not sent from this site; reload it"
        )
    return form


def presession(request: Request) -> tuple[str, bool]:
    """The random value the sign-in form is bound to, and whether it is new."""
    value = request.cookies.get(PRESESSION_COOKIE, "")
    if len(value) >= 32:
        return value, False
    return secrets.token_urlsafe(32), True


def set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    """Set a backoffice cookie: HttpOnly, SameSite=Strict, Secure over HTTPS."""
    response.set_cookie(
        name,
        value,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response, name: str) -> None:
    """Remove a backoffice cookie."""
    response.delete_cookie(name, path=COOKIE_PATH, httponly=True, samesite="strict")
