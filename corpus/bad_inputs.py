"""The bad-input corpus: requests an attacker (or a buggy client) sends, each with the refusal it must get.

Data, not tests: `tests/integration/test_bad_inputs.py` replays every case over HTTP and over NATS
against a real gateway and asserts a structured 4xx and that nothing but audit records is appended;
the chaos suite (issue #16) replays the same cases under load. `TOKEN` is a placeholder for a valid
admin token; the replaying test substitutes its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

TOKEN = "{token}"
"""Replaced by the replayer with a valid admin token (headers only)."""
NS = "corpus"


def manifest(name: str = "x", ns: str = NS, **spec: object) -> dict[str, object]:
    return {
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"model": "m", "replicas": 1, "placement": {"region": "us-west-2", "gpu": "a100"}, **spec},
    }


def _json(doc: object) -> bytes:
    return json.dumps(doc).encode()


ALIAS_BOMB = b"".join(
    [b"a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n".encode() for i in range(8)]
)
"""A 324-byte "billion laughs": 9^9 strings once expanded."""
LIST_BOMB = b"a: &a [[[[[[[[x]]]]]]]]\n" + b"".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 12)}]\n".encode() for i in range(6)
)
DEEP_JSON = (
    b'{"kind":"ModelDeployment","metadata":{"name":"x","namespace":"corpus"},"spec":'
    + b"[" * 1100
    + b"]" * 1100
    + b"}"
)
DEEP_YAML = b"spec:\n" + b"".join(b"  " * i + b"- \n" for i in range(1, 200))
RECURSIVE_YAML = b"kind: &k [*k]\n"
CONTROL_NUL = _json(manifest(model="llama\x00-3"))
CONTROL_ESC = _json(manifest(model="\x1b[2J\x1b[31mowned"))
CONTROL_KEY = _json({**manifest(), "spec": {"model": "m", "replicas": 1, "\x1b]0;x\x07": 1}})


@dataclass(frozen=True)
class HttpCase:
    name: str
    method: str
    path: str
    status: int
    code: str | None = None
    headers: dict[str, str] = field(default_factory=lambda: {"Authorization": f"Bearer {TOKEN}"})
    body: bytes = b""


@dataclass(frozen=True)
class NatsCase:
    name: str
    subject: str
    status: int
    code: str | None = None
    headers: dict[str, str] = field(default_factory=lambda: {"Authorization": f"Bearer {TOKEN}"})
    body: bytes = b""


_MD = f"/v1/namespaces/{NS}/modeldeployments/x"
_JSON_CT = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
_YAML_CT = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/yaml"}

HTTP: list[HttpCase] = [
    HttpCase("no token", "PUT", _MD, 401, "Unauthorized", {}, _json(manifest())),
    HttpCase(
        "unknown token", "PUT", _MD, 401, "Unauthorized", {"Authorization": "Bearer nope"}, _json(manifest())
    ),
    HttpCase(
        "token in a bad scheme",
        "GET",
        f"/v1/namespaces/{NS}/modeldeployments",
        401,
        "Unauthorized",
        {"Authorization": f"Basic {TOKEN}"},
    ),
    HttpCase(
        "If-Match superscript two",
        "PUT",
        _MD,
        400,
        "Malformed",
        {**_JSON_CT, "If-Match": "²"},
        _json(manifest()),
    ),
    HttpCase("If-Match not a number", "DELETE", _MD, 400, "Malformed", {**_JSON_CT, "If-Match": "abc"}),
    HttpCase(
        "Last-Event-ID superscript two",
        "GET",
        "/v1/watch",
        400,
        "Malformed",
        {"Authorization": f"Bearer {TOKEN}", "Last-Event-ID": "²"},
    ),
    HttpCase("watch with a bad selector", "GET", "/v1/watch?labelSelector===", 400, "Malformed"),
    HttpCase("JSON nested 1100 deep", "PUT", _MD, 400, "TooComplex", _JSON_CT, DEEP_JSON),
    HttpCase("YAML alias bomb on PUT", "PUT", _MD, 400, "TooComplex", _YAML_CT, ALIAS_BOMB),
    HttpCase("YAML list bomb on PUT", "PUT", _MD, 400, "TooComplex", _YAML_CT, LIST_BOMB),
    HttpCase("YAML alias bomb on diff", "POST", "/v1/diff", 400, "TooComplex", _YAML_CT, ALIAS_BOMB),
    HttpCase("JSON nested 1100 deep on diff", "POST", "/v1/diff", 400, "TooComplex", _JSON_CT, DEEP_JSON),
    HttpCase("YAML nested 200 deep", "PUT", _MD, 400, None, _YAML_CT, DEEP_YAML),
    HttpCase("recursive YAML alias", "PUT", _MD, 400, "TooComplex", _YAML_CT, RECURSIVE_YAML),
    HttpCase("NUL in a spec string", "PUT", _MD, 422, "Invalid", _JSON_CT, CONTROL_NUL),
    HttpCase("ESC sequence in a spec string", "PUT", _MD, 422, "Invalid", _JSON_CT, CONTROL_ESC),
    HttpCase("control characters in a key", "PUT", _MD, 422, "Invalid", _JSON_CT, CONTROL_KEY),
    HttpCase("malformed JSON", "PUT", _MD, 400, "Malformed", _JSON_CT, b'{"kind": '),
    HttpCase("malformed YAML", "PUT", _MD, 400, "Malformed", _YAML_CT, b"kind: [\n"),
    HttpCase("not UTF-8", "PUT", _MD, 400, "Malformed", _YAML_CT, b"kind: \xff\xfe\n"),
    HttpCase(
        "wrong content type",
        "PUT",
        _MD,
        415,
        "UnsupportedMediaType",
        {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain"},
        _json(manifest()),
    ),
    HttpCase(
        "namespace differs from the path", "PUT", _MD, 400, "Mismatch", _JSON_CT, _json(manifest(ns="other"))
    ),
    HttpCase("negative replicas", "PUT", _MD, 422, "Invalid", _JSON_CT, _json(manifest(replicas=-1))),
    HttpCase(
        "unknown kind",
        "PUT",
        f"/v1/namespaces/{NS}/widgets/x",
        404,
        "UnknownKind",
        _JSON_CT,
        _json(manifest()),
    ),
    HttpCase("two documents on PUT", "PUT", _MD, 400, "Malformed", _JSON_CT, _json([manifest(), manifest()])),
    HttpCase("body over 1 MiB", "PUT", _MD, 413, "TooLarge", _JSON_CT, b" " * (1 << 20) + _json(manifest())),
    HttpCase(
        "101 headers", "GET", "/healthz", 431, "HeadersTooLarge", {f"X-Pad-{i}": "x" for i in range(101)}
    ),
    HttpCase(
        "40 KiB of headers",
        "GET",
        f"/v1/namespaces/{NS}/modeldeployments",
        431,
        "HeadersTooLarge",
        {"Authorization": f"Bearer {TOKEN}", "X-Pad": "x" * (40 << 10)},
    ),
    HttpCase(
        "limit not a number", "GET", f"/v1/namespaces/{NS}/modeldeployments?limit=abc", 400, "Malformed"
    ),
    HttpCase(
        "limit over the bound", "GET", f"/v1/namespaces/{NS}/modeldeployments?limit=1000000", 400, "Malformed"
    ),
    HttpCase(
        "bad continue token", "GET", f"/v1/namespaces/{NS}/modeldeployments?continue=%00%ff", 400, "Malformed"
    ),
    HttpCase(
        "bad label selector",
        "GET",
        f"/v1/namespaces/{NS}/modeldeployments?labelSelector===",
        400,
        "Malformed",
    ),
    HttpCase("diff from negative", "GET", "/v1/diff?from=-1", 400, "Malformed"),
    *[
        HttpCase(f"sequence past 64 bits ({where})", "GET", where.replace("N", "9" * 25), 400, "Malformed")
        for where in (
            f"/v1/namespaces/{NS}/modeldeployments/x/history?since=N",
            f"/v1/namespaces/{NS}/modeldeployments/x?at=N",
            f"/v1/namespaces/{NS}/modeldeployments/x?minVersion=N",
            "/v1/watch?resourceVersion=N",
            f"/v1/bundle?ref=modeldeployment/{NS}/x&upTo=N",
            "/v1/diff?from=0&to=N",
        )
    ],
    HttpCase("bundle with a bad ref", "GET", "/v1/bundle?ref=nope", 400, "Malformed"),
    HttpCase("audit with a bad since", "GET", "/v1/audit?since=yesterday-ish", 400, "Malformed"),
    HttpCase("no such route", "GET", "/nope", 404, "NotFound"),
    HttpCase("no such kind in a route", "GET", "/v1/nope", 404, "UnknownKind"),
    HttpCase("delete of nothing", "DELETE", f"/v1/namespaces/{NS}/modeldeployments/absent", 404, "NotFound"),
    HttpCase(
        "invalid name",
        "PUT",
        f"/v1/namespaces/{NS}/modeldeployments/Not_A_Name",
        422,
        None,
        _JSON_CT,
        _json(manifest("Not_A_Name")),
    ),
]

_SUBJECT = f"bosun.intent.modeldeployment.{NS}.x"
NATS: list[NatsCase] = [
    NatsCase("no token", _SUBJECT, 401, "Unauthorized", {}, _json(manifest())),
    NatsCase(
        "If-Match superscript two",
        _SUBJECT,
        400,
        "Malformed",
        {"Authorization": f"Bearer {TOKEN}", "If-Match": "²"},
        _json(manifest()),
    ),
    NatsCase("JSON nested 1100 deep", _SUBJECT, 400, "TooComplex", body=DEEP_JSON),
    NatsCase("YAML alias bomb", _SUBJECT, 400, "TooComplex", body=ALIAS_BOMB),
    NatsCase("NUL in a spec string", _SUBJECT, 422, "Invalid", body=CONTROL_NUL),
    NatsCase("ESC sequence in a spec string", _SUBJECT, 422, "Invalid", body=CONTROL_ESC),
    NatsCase("malformed JSON", _SUBJECT, 400, "Malformed", body=b'{"kind": '),
    NatsCase(
        "subject too short", f"bosun.intent.modeldeployment.{NS}", 400, "Malformed", body=_json(manifest())
    ),
    NatsCase("unknown kind", f"bosun.intent.widgets.{NS}.x", 404, "UnknownKind", body=_json(manifest())),
    NatsCase("negative replicas", _SUBJECT, 422, "Invalid", body=_json(manifest(replicas=-1))),
    NatsCase("body over 1 MiB", _SUBJECT, 413, "TooLarge", body=b" " * (1 << 20) + _json(manifest())),
]


def with_token(headers: dict[str, str], token: str) -> dict[str, str]:
    return {k: v.replace(TOKEN, token) for k, v in headers.items()}
