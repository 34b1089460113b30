"""A small synchronous HTTP client of the gateway for the CLI: connection discovery, calls, SSE.

Errors come back as `ClientError` carrying the API's own `{code, message, details}`.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from gateway.errors import ErrorDetail, decode_error


class ClientError(Exception):
    def __init__(self, status: int, code: str, message: str, details: list[ErrorDetail] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details or []


@dataclass(frozen=True)
class Connection:
    server: str
    token: str | None


def discover(server: str | None, token: str | None, data: Path) -> Connection:
    """`--server`/`BOSUN_SERVER` and `--token`/`BOSUN_TOKEN` win; else `<data>/connection.json`."""
    info: dict[str, Any] = {}
    conn_file = data / "connection.json"
    if (server is None or token is None) and conn_file.exists():
        info = json.loads(conn_file.read_text())
    server = server or info.get("http")
    if not server:
        raise ClientError(0, "NoServer", f"no gateway: pass --server, set BOSUN_SERVER or run `bosun up` "
                                         f"(no {conn_file})")
    if token is None and info.get("tokenFile") and os.path.exists(info["tokenFile"]):
        token = Path(info["tokenFile"]).read_text().strip()
    return Connection(server.rstrip("/"), token)


class Client:
    def __init__(self, conn: Connection, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {conn.token}"} if conn.token else {}
        self.http = httpx.Client(base_url=conn.server, headers=headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            r = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise ClientError(0, "Unreachable", f"{self.http.base_url}: {e}") from e
        if r.status_code >= 400:
            raise _error(r.status_code, r.content)
        return r.json() if r.content else None

    def apply(self, doc: dict[str, Any], namespace: str) -> dict[str, Any]:
        kind, ns, name = address(doc, namespace)
        result: dict[str, Any] = self.call("PUT", f"/v1/namespaces/{ns}/{kind}/{name}", json=doc)
        return result

    def delete(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("DELETE", f"/v1/namespaces/{namespace}/{kind}/{name}")
        return result

    def retry(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", f"/v1/namespaces/{namespace}/{kind}/{name}/retry")
        return result

    def get(self, kind: str, namespace: str, name: str, at: int | None = None,
            at_time: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", f"/v1/namespaces/{namespace}/{kind}/{name}",
                                           params=_params(at=at, atTime=at_time))
        return result

    def list(self, kind: str, namespace: str | None, selector: str | None = None, phase: str | None = None,
             limit: int | None = None, at: int | None = None,
             at_time: str | None = None) -> Iterator[dict[str, Any]]:
        """Every matching object, following `continue` tokens (or one page of `limit`); `at`: as of that seq."""
        path = f"/v1/namespaces/{namespace}/{kind}" if namespace else f"/v1/{kind}"
        token = None
        while True:
            page = self.call("GET", path, params=_params(labelSelector=selector, phase=phase, limit=limit,
                                                         at=at, atTime=at_time, **{"continue": token}))
            yield from page["items"]
            token = page.get("continue")
            if not token or limit:
                return

    def replicas(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", f"/v1/namespaces/{namespace}/{kind}/{name}/replicas")
        return result

    def history(self, kind: str, namespace: str, name: str, since: int | None = None,
                types: list[str] | None = None, limit: int | None = None) -> dict[str, Any]:
        params = _params(since=since, limit=limit, type=",".join(types) if types else None)
        result: dict[str, Any] = self.call("GET", f"/v1/namespaces/{namespace}/{kind}/{name}/history",
                                           params=params)
        return result

    def bundle(self, refs: list[str], everything: bool = False, up_to: int | None = None) -> bytes:
        """An incident bundle (`core.bundles`) of `kind/namespace/name` refs, or of the whole stream."""
        params = _params(ref=refs or None, all="true" if everything else None, upTo=up_to)
        try:
            r = self.http.get("/v1/bundle", params=params, timeout=600)
        except httpx.HTTPError as e:
            raise ClientError(0, "Unreachable", f"{self.http.base_url}: {e}") from e
        if r.status_code >= 400:
            raise _error(r.status_code, r.content)
        return r.content

    def diff_points(self, start: int, end: int | None, namespace: str | None,
                    kind: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", "/v1/diff", params=_params(**{"from": start}, to=end,
                                                                             namespace=namespace, kind=kind))
        return result

    def diff(self, docs: list[Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", "/v1/diff", json=docs)
        return result

    def rebuild(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", "/v1/projections/rebuild", timeout=300)
        return result

    def watch(self, **filters: str | None) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """(event, seq, object) for every SSE event, forever."""
        with self.http.stream("GET", "/v1/watch", params=_params(**filters), timeout=None) as r:
            if r.status_code >= 400:
                raise _error(r.status_code, r.read())
            fields: dict[str, str] = {}
            for line in r.iter_lines():
                if not line and fields.get("data"):
                    yield fields.get("event", "MODIFIED"), int(fields.get("id", 0)), json.loads(fields["data"])
                    fields = {}
                elif line and not line.startswith(":"):
                    key, _, value = line.partition(":")
                    fields[key] = value.removeprefix(" ")


def address(doc: Any, namespace: str) -> tuple[str, str, str]:
    """(kind, namespace, name) of a manifest, for its URL; the server validates the rest."""
    if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str):
        raise ClientError(0, "Invalid", "every manifest needs a kind")
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise ClientError(0, "Invalid", f"a {doc['kind']} manifest has no metadata.name")
    return doc["kind"], str(meta.get("namespace") or namespace), name


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _error(status: int, body: bytes) -> ClientError:
    info = decode_error(body)
    if info is None:
        return ClientError(status, f"HTTP{status}", body.decode(errors="replace")[:200] or "no body")
    return ClientError(status, info.code, info.message, info.details)
