"""What the Python client raises: the API's own error (`{error: {code, message, details}}`) as an exception.

One class per status a script may want to catch on its own (`NotFound`, `Conflict`, ...); every one is a
`BosunError` carrying `status`, `code`, `message` and `details` exactly as the API sent them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Detail:
    """One problem, addressed by a JSON path such as `$.spec.replicas`."""

    field: str
    message: str


class BosunError(Exception):
    """An answer of the API that is not a success (or no answer: status 0)."""

    def __init__(self, status: int, code: str, message: str, details: list[Detail] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, list(details or ())


class Unreachable(BosunError):
    """No answer: the gateway is down, or not where the client looks."""


class Invalid(BosunError):
    """400 or 422: the request or manifest is malformed or fails validation (details name the fields)."""


class Unauthorized(BosunError):
    """401: no token, or one the gateway does not know."""


class Forbidden(BosunError):
    """403: RBAC refused it, or a Quota (code `QuotaExceeded`)."""


class NotFound(BosunError):
    """404: no such resource, kind (code `UnknownKind`) or route."""


class Conflict(BosunError):
    """409: the resource changed since `if_match`, is being deleted, or too many writers raced."""


class Unavailable(BosunError):
    """503: the log is unavailable, or the read model lags."""


class WaitTimeout(BosunError):
    """`wait` ran out of time; `details` say what is not ready and why."""


class WaitFailed(BosunError):
    """`wait` saw a resource fail (phase Failed, ProgressDeadlineExceeded, deleted); `details` say which."""


_BY_STATUS: dict[int, type[BosunError]] = {400: Invalid, 401: Unauthorized, 403: Forbidden, 404: NotFound,
                                           409: Conflict, 422: Invalid, 503: Unavailable}


_STATUS_OF = {"Unauthorized": 401, "Forbidden": 403, "NotFound": 404, "UnknownKind": 404}


def from_event(data: dict[str, Any]) -> BosunError:
    """The exception an `ERROR` event of a watch carries (its status guessed from its code)."""
    code = str((data.get("error") or {}).get("code", "")) if isinstance(data, dict) else ""
    return from_response(_STATUS_OF.get(code, 500), json.dumps(data).encode())


def from_response(status: int, body: bytes) -> BosunError:
    """The exception for an error answer: the API's own code, message and details when the body has them."""
    cls = _BY_STATUS.get(status, BosunError)
    try:
        info: Any = json.loads(body)["error"]
        details = [Detail(str(d["field"]), str(d["message"])) for d in info.get("details") or ()]
        return cls(status, str(info["code"]), str(info["message"]), details)
    except (ValueError, KeyError, TypeError, AttributeError):
        return cls(status, f"HTTP{status}", body.decode(errors="replace")[:200] or "no body")
