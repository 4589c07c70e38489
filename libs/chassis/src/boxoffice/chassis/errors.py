"""The one HTTP error format: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the API answers with a status code and a stable error code."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


class ErrorDetail(BaseModel):
    """What went wrong: a stable code, a message for humans, and structured details."""

    code: str = Field(description="Stable error code, e.g. NOT_FOUND or VALIDATION_ERROR")
    message: str
    details: Any = Field(default=None, description="Structured details; depend on the code")


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


_ERROR_DESCRIPTIONS = {
    400: "The body could not be read (e.g. not UTF-8)",
    401: "Missing or invalid bearer token",
    404: "Not found (or not of the caller's organization)",
    409: "Conflicts with the current state",
    413: "The body is too large",
    422: "The request is not valid",
    429: "Rate limited (see `Retry-After`)",
}


def error_responses(*codes: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` documenting error statuses with the error body's schema.

    ``descriptions`` override the default text per status, keyed ``e<status>``
    (e.g. ``e404="No such event"``).
    """
    return {
        code: {
            "model": ErrorBody,
            "description": descriptions.get(f"e{code}", _ERROR_DESCRIPTIONS.get(code, "Error")),
        }
        for code in codes
    }


def not_found(what: str) -> ApiError:
    """The 404 answered for a missing resource and for one of another organization."""
    return ApiError(404, "NOT_FOUND", f"{what} not found")


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Build a response in the project's error format."""
    return JSONResponse(
        status_code=status_code,
        content={"error": {"code": code, "message": message, "details": jsonable_encoder(details)}},
        headers=headers,
    )


def _validation_details(error: RequestValidationError) -> list[dict[str, Any]]:
    # Input values are left out: they may carry personal data and the client has them.
    return [
        {"loc": list(item.get("loc", ())), "message": item.get("msg"), "type": item.get("type")}
        for item in error.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Make every error, expected or not, answer in the project's format."""

    async def on_api_error(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ApiError)  # noqa: S101 - registered for ApiError only
        return error_response(
            error.status_code, error.code, error.message, error.details, error.headers
        )

    async def on_validation_error(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)  # noqa: S101
        return error_response(
            422, "VALIDATION_ERROR", "the request is not valid", _validation_details(error)
        )

    async def on_http_error(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)  # noqa: S101
        status = HTTPStatus(error.status_code)
        message = error.detail if isinstance(error.detail, str) else status.phrase
        return error_response(
            error.status_code,
            status.name,
            message,
            headers=dict(error.headers) if error.headers else None,
        )

    async def on_unexpected(_request: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=error)
        return error_response(500, "INTERNAL_ERROR", "an unexpected error occurred")

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
