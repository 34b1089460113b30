"""The one error shape of the API, `{"error": {"code", "message", "details"}}`, and its constructors.

Framework-free on purpose: admission raises `ApiError` for HTTP and NATS alike, and the Python client
(`bosun.errors`) raises the same shape.
"""
from __future__ import annotations

from typing import Any

import msgspec

from core.kinds import FieldError


class ErrorDetail(msgspec.Struct, frozen=True):
    """One problem, addressed by a JSON path such as `$.spec.replicas` (or `$` for the whole body)."""

    field: str
    message: str


class ErrorInfo(msgspec.Struct, frozen=True):
    code: str
    message: str
    details: list[ErrorDetail] = []


class ErrorBody(msgspec.Struct, frozen=True):
    error: ErrorInfo


class ApiError(Exception):
    """A request the API refuses; `status` is the HTTP status (also `Bosun-Status` on NATS replies)."""

    def __init__(self, status: int, code: str, message: str,
                 details: list[ErrorDetail] | list[FieldError] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = [ErrorDetail(d.field, d.message) for d in details or ()]

    @property
    def body(self) -> ErrorBody:
        return ErrorBody(ErrorInfo(self.code, self.message, self.details))


def malformed(message: str, field: str = "$") -> ApiError:
    return ApiError(400, "Malformed", message, [ErrorDetail(field, message)])


def mismatch(field: str, message: str) -> ApiError:
    return ApiError(400, "Mismatch", message, [ErrorDetail(field, message)])


def unauthorized(message: str = "a valid bearer token is required") -> ApiError:
    return ApiError(401, "Unauthorized", message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "Forbidden", message)


def not_found(message: str, code: str = "NotFound") -> ApiError:
    return ApiError(404, code, message)


def unknown_kind(kind: str) -> ApiError:
    return ApiError(404, "UnknownKind", f"unknown kind {kind!r}", [ErrorDetail("$.kind", "unknown kind")])


def conflict(message: str, code: str = "Conflict") -> ApiError:
    return ApiError(409, code, message)


def too_large(limit: int) -> ApiError:
    return ApiError(413, "TooLarge", f"request body exceeds {limit} bytes")


def unsupported_media(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType",
                    f"content type {content_type!r} is not supported; send application/json or application/yaml")


def invalid(details: list[ErrorDetail] | list[FieldError], message: str | None = None) -> ApiError:
    """422; the message defaults to the first problem, so one line tells the whole story."""
    first = details[0] if details else None
    return ApiError(422, "Invalid", message or (f"{first.field}: {first.message}" if first else "invalid"), details)


def unavailable(message: str = "the log is unavailable") -> ApiError:
    return ApiError(503, "Unavailable", message)


def as_json(error: ApiError) -> dict[str, Any]:
    return msgspec.to_builtins(error.body)  # type: ignore[no-any-return]
