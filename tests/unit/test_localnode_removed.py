"""`bosun node remove` of `bosun up`'s own node (#25): the agent's refused exit stops it for good only when the
gateway confirms the node's credential is gone; otherwise (a gateway restarting) it is restarted as any crash."""
from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from core import nodes
from supervisor import localnode
from supervisor.children import Child, exited, rearmed


def ended(child: Child, code: int) -> None:
    child.proc = SimpleNamespace(returncode=code, pid=4242)  # type: ignore[assignment]  # an exited process


def test_a_final_exit_confirmed_stops_the_child_for_good_and_a_fresh_file_rearms_it(tmp_path: Path) -> None:
    join = tmp_path / "join.json"
    join.write_text("{}")
    why = {"reason": ""}
    child = Child("agent", [], final_exits={nodes.REFUSED_EXIT: lambda: why["reason"]}, rearm=join)
    exits: dict[str, tuple[int | None, float, int]] = {}
    ended(child, nodes.REFUSED_EXIT)
    exited(child, 100.0, exits, tmp_path / "agent.log")  # not confirmed: restarted, as any crash
    assert child.restart_at is not None and not child.stopped and exits["agent"][2] == 1
    why["reason"] = "node vm was removed"
    ended(child, nodes.REFUSED_EXIT)
    exited(child, 101.0, exits, tmp_path / "agent.log")
    assert child.restart_at is None and child.proc is None and child.stopped == "node vm was removed"
    assert exits["agent"][:1] == (nodes.REFUSED_EXIT,) and exits["agent"][2] == 1  # no restart counted
    assert not rearmed(child)  # the join file is older than the stop
    os.utime(join, (child.stopped_at + 1, child.stopped_at + 1))
    assert rearmed(child) and not child.stopped
    ended(child, 1)  # any other failure: restarted, never asked
    exited(child, 102.0, exits, tmp_path / "agent.log")
    assert child.restart_at is not None and not child.stopped


class Gateway:
    """A gateway answering GET of one Principal (None: 404), with the admin token it expects."""

    def __init__(self, principal: dict[str, Any] | None) -> None:
        answer = principal

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                ok = self.headers.get("Authorization") == "Bearer admin-secret" and \
                    self.path == "/v1/namespaces/_cluster/principals/node-vm"
                body = json.dumps(answer).encode() if ok and answer is not None else b"{}"
                self.send_response(200 if ok and answer is not None else 404 if ok else 401)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def data(tmp_path: Path) -> Iterator[Path]:
    localnode.join_file(tmp_path).parent.mkdir(parents=True)
    localnode.join_file(tmp_path).write_text(json.dumps({"node": "vm", "token": "t0ken"}))
    (tmp_path / "admin.token").write_text("admin-secret\n")
    yield tmp_path


@pytest.mark.parametrize(("principal", "expected"), [
    (None, "node vm was removed (bosun node remove vm)"),
    ({"spec": {"tokenSha256": hashlib.sha256(b"other").hexdigest()}}, "node vm was joined again with a token other"),
    ({"spec": {"tokenSha256": hashlib.sha256(b"t0ken").hexdigest()}}, ""),  # ours: a restart picks it up
])
def test_the_gateway_says_whether_the_node_is_gone(data: Path, principal: dict[str, Any] | None,
                                                   expected: str) -> None:
    gateway = Gateway(principal)
    try:
        why = localnode.revoked(gateway.url, data / "admin.token", data, "vm")
    finally:
        gateway.close()
    assert why.startswith(expected) and (why == "") == (expected == "")


def test_no_answer_is_no_verdict(data: Path) -> None:
    gateway = Gateway(None)
    gateway.close()  # nothing listens there any more: a gateway restarting
    assert localnode.revoked(gateway.url, data / "admin.token", data, "vm") == ""
    assert localnode.revoked(gateway.url, data / "admin.token", data / "nowhere", "vm") == ""
