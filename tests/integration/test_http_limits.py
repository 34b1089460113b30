"""Size limits of the live gateway (`bosun up`, real uvicorn + httptools), as clients meet them.

Issue #13, findings 4 and 8: 64 MiB of headers used to be read whole and answered 200, and a 5 MiB PUT
from Python's urllib (which sends the whole body before reading) got a connection reset instead of 413.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.integration.test_up_support import Up, http_get

BIG = 5 << 20


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    running = Up(Path(tmp_path_factory.mktemp("limits")) / "data").start()
    yield running
    running.stop()


def send(up: Up, method: str, path: str, body: bytes) -> tuple[int, Any]:
    req = urllib.request.Request(
        up.url + path,
        data=body,
        method=method,
        headers={"Authorization": f"Bearer {up.token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.parametrize(
    "method,path",
    [
        ("PUT", "/v1/namespaces/demo/modeldeployments/big"),
        ("PUT", "/v1/namespaces/demo/modeldeployments/big/"),
        ("POST", "/v1/diff"),
    ],
)
def test_oversized_body_gets_a_413_the_client_can_read(up: Up, method: str, path: str) -> None:
    status, body = send(up, method, path, b" " * BIG)
    assert status == 413 and body["error"]["code"] == "TooLarge"
    assert http_get(up.url + "/healthz")[0] == 200


def raw_request(up: Up, head: bytes, endless: bool) -> bytes:
    """Send `head` (and, with `endless`, header bytes forever from a thread); the server's whole answer."""
    where = urlparse(up.url)
    sock = socket.create_connection((where.hostname, where.port), timeout=30)
    stop = threading.Event()

    def pour() -> None:
        try:
            sock.sendall(head)
            while endless and not stop.is_set():
                sock.sendall(b"x" * 65536)
        except OSError:
            pass  # the server closed: what we expect once it has answered

    sender = threading.Thread(target=pour, daemon=True)
    sender.start()
    chunks = []
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    finally:
        stop.set()
        sender.join(10)
        sock.close()
    return b"".join(chunks)


def test_endless_header_block_is_cut_off_with_431(up: Up) -> None:
    answer = raw_request(up, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ", endless=True)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert b'"HeadersTooLarge"' in answer
    assert http_get(up.url + "/healthz")[0] == 200


def test_too_many_headers_get_431_on_every_route(up: Up) -> None:
    pad = b"".join(b"X-Pad-%d: x\r\n" % i for i in range(101))
    for path in (b"/healthz", b"/v1/namespaces/demo/modeldeployments/x", b"/no/such/route"):
        answer = raw_request(up, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n" + pad + b"\r\n", endless=False)
        assert answer.startswith(b"HTTP/1.1 431"), (path, answer[:200])


def test_unparseable_request_gets_the_structured_400(up: Up) -> None:
    """Found by Schemathesis: a Content-Length that is not a number got uvicorn's plain-text 400."""
    answer = raw_request(up, b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: ]\r\n\r\n", endless=False)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"content-type: application/json" in head, answer[:300]
    assert json.loads(body)["error"]["code"] == "Malformed"
    assert http_get(up.url + "/healthz")[0] == 200
