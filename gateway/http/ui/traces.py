"""Where the dashboard links trace ids: a URL template such as `http://jaeger:16686/trace/{traceId}`.

`Settings.trace_url` (`BOSUN_TRACE_URL`), checked once when the gateway starts; a template that is not an
http(s) URL with a `{traceId}` placeholder is ignored with a warning, so a typo can never turn trace ids into
links elsewhere (a `javascript:` URL, say).
"""
from __future__ import annotations

from urllib.parse import urlsplit

import structlog

VARIABLE = "BOSUN_TRACE_URL"
PLACEHOLDER = "{traceId}"
_log = structlog.get_logger("bosun.gateway")


def template(raw: str) -> str:
    """The configured template `raw`, or "" when unset or unusable."""
    value = raw.strip()
    if not value:
        return ""
    parts = urlsplit(value.replace(PLACEHOLDER, "x"))
    if PLACEHOLDER not in value or parts.scheme not in ("http", "https") or not parts.netloc:
        _log.warning("trace UI link template ignored: it must be an http(s) URL containing {traceId}",
                     variable=VARIABLE, value=value)
        return ""
    return value
