"""Issue #23, item 3, in pure parts: no float field of any spec, event, observation or command accepts NaN or an
infinity; a replica's load figure must be a finite number; a driver's outbox sets aside what does not decode;
forged continue tokens and out-of-range loads are refused."""
from __future__ import annotations

import base64
import http.server
import json
import math
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import msgspec.inspect as mi
import pytest
from click.testing import CliRunner

import bosun
from cli.main import main
from core.events import COMMON_EVENTS, Event
from core.replicas import COMMANDS, OBSERVATIONS, LoadObserved, ReplicaReady
from dataplane.base import outbox
from dataplane.base.store import LEDGER_SCHEMA
from dataplane.process import probes
from dataplane.sim.load import set_load
from gateway.admission.validation import Target, validate
from gateway.errors import ApiError
from projections import pages
from tests.conftest import REGISTRY

POISON = (math.inf, -math.inf, math.nan)


def _floats(t: Any, where: str, seen: set[type]) -> Iterator[tuple[str, mi.FloatType]]:
    """Every float type reachable from `t`, with a path to it."""
    if isinstance(t, mi.FloatType):
        yield where, t
    elif isinstance(t, (mi.StructType, mi.DataclassType)):
        if t.cls in seen:
            return
        seen.add(t.cls)
        for f in t.fields:
            yield from _floats(f.type, f"{where}.{f.name}", seen)
    elif isinstance(t, mi.UnionType):
        for member in t.types:
            yield from _floats(member, where, seen)
    elif isinstance(t, (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)):
        yield from _floats(t.item_type, f"{where}[]", seen)
    elif isinstance(t, mi.TupleType):
        for i, item in enumerate(t.item_types):
            yield from _floats(item, f"{where}[{i}]", seen)
    elif isinstance(t, mi.DictType):
        yield from _floats(t.value_type, f"{where}{{}}", seen)


def every_wire_type() -> list[type]:
    assert REGISTRY  # the shipped kinds are registered
    types: set[type] = set(COMMON_EVENTS + COMMANDS + OBSERVATIONS)
    # the events of the Kind API too (a kind's claims...), whichever kinds this run happened to load
    types.update(v for v in (getattr(bosun, n) for n in bosun.__all__) if isinstance(v, type) and issubclass(v, Event))
    for info in REGISTRY.kinds():
        types.add(info.spec_type)
        types.update(info.events)
    return sorted(types, key=lambda t: f"{t.__module__}.{t.__qualname__}")


@pytest.mark.parametrize("cls", every_wire_type(), ids=lambda c: c.__qualname__)
def test_every_float_on_the_wire_is_bounded_on_both_sides(cls: type) -> None:
    """A float without both bounds would take NaN or an infinity, which JSON stores as null: a poison message."""
    for where, f in _floats(mi.type_info(cls), cls.__qualname__, set()):
        low = f.ge if f.ge is not None else f.gt
        high = f.le if f.le is not None else f.lt
        assert low is not None and high is not None and math.isfinite(low) and math.isfinite(high), where


def test_the_walk_finds_the_floats() -> None:
    found = [where for cls in every_wire_type() for where, _ in _floats(mi.type_info(cls), cls.__qualname__, set())]
    assert {"LoadObserved.rps", "ReconcileFailed.retry_in", "GpuPoolSpec.price_per_gpu_hour",
            "StartProcess.launch.startup_seconds"} <= set(found), found


@pytest.mark.parametrize("field,value", [("targetLoadPerReplica", v) for v in POISON] +
                         [("startupSeconds", v) for v in POISON])
def test_specs_refuse_non_finite_numbers(field: str, value: float) -> None:
    spec: dict[str, Any] = {"model": "m", "replicas": 1, "placement": {"region": "r", "gpu": "g"}}
    if field == "targetLoadPerReplica":
        spec["autoscaling"] = {"min": 1, "max": 2, field: value}
    else:
        spec[field] = value
    with pytest.raises(ApiError) as refused:
        validate({"kind": "ModelDeployment", "metadata": {"name": "x", "namespace": "n"}, "spec": spec}, Target())
    assert refused.value.status == 422 and field in refused.value.body.error.details[0].field


@pytest.mark.parametrize("value", POISON)
def test_observations_and_pool_prices_refuse_non_finite_numbers(value: float) -> None:
    with pytest.raises(msgspec.DecodeError):  # as a JSON body says it (msgspec < 0.19 decoded 1e999 to inf)
        msgspec.json.decode(b'{"type": "load.observed", "rps": 1e999}', type=LoadObserved)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"rps": value}, LoadObserved)
    with pytest.raises(ApiError):
        validate({"kind": "GpuPool", "metadata": {"name": "p", "namespace": "n"},
                  "spec": {"region": "r", "gpu": "g", "capacity": 1, "pricePerGpuHour": value}}, Target())


class _Replica(http.server.BaseHTTPRequestHandler):
    answer = b"0"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.answer)))
        self.end_headers()
        self.wfile.write(self.answer)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def replica() -> Iterator[tuple[http.server.HTTPServer, type[_Replica]]]:
    handler = type("Handler", (_Replica,), {})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("answer,figure", [
    (b"12.5", 12.5), (b'{"rps": 3}', 3.0), (b"-4", 0.0),
    (b"inf", None), (b"nan", None), (b"-inf", None), (b"1e999", None), (b'{"rps": 1e999}', None),
    (b'{"rps": ' + b"9" * 400 + b"}", None), (b"2e12", None), (b'{"rps": true}', None), (b"lots", None),
])
async def test_a_replicas_load_is_a_finite_number_or_nothing(
        replica: tuple[http.server.HTTPServer, type[_Replica]], answer: bytes, figure: float | None) -> None:
    server, handler = replica
    handler.answer = answer
    async with httpx.AsyncClient() as client:
        assert await probes.load(client, server.server_address[1], "/load") == figure


def ledger_db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.executescript(LEDGER_SCHEMA)
    return conn


def test_a_poison_observation_is_quarantined_not_queued() -> None:
    conn = ledger_db()
    outbox.add(conn, "bosun.ev.modeldeployment.a.b.obs", LoadObserved(rps=math.inf), "m1", 1.0)
    outbox.add(conn, "bosun.ev.modeldeployment.a.b.obs", ReplicaReady(replica="b-1", pool="i/p"), "m2", 2.0)
    assert [r.msg_id for r in outbox.pending(conn)] == ["m2"]
    (set_aside,) = outbox.quarantined(conn)
    assert set_aside["subject"] == "bosun.ev.modeldeployment.a.b.obs" and "rps" in str(set_aside["error"])


def test_an_undecodable_outbox_row_is_set_aside_and_the_rest_still_sent() -> None:
    """Rows an older version wrote (`{"rps": null}`) once made the driver exit at every start."""
    conn = ledger_db()
    poison = b'{"type":"load.observed","rps":null,"replicas":1}'
    conn.execute("INSERT INTO outbox (subject, msg_id, body, time, headers) VALUES ('s', 'bad', ?, 1.0, '{}')",
                 (poison,))
    outbox.add(conn, "s", ReplicaReady(replica="b-1", pool="i/p"), "good", 2.0)
    assert [r.msg_id for r in outbox.pending(conn)] == ["good"]
    assert len(outbox.quarantined(conn)) == 1
    assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 1
    only_poison = ledger_db()
    only_poison.execute("INSERT INTO outbox (subject, msg_id, body, time, headers) VALUES ('s', 'b', ?, 1, '{}')",
                        (poison,))
    assert outbox.pending(only_poison) == []


@pytest.mark.parametrize("rps", ["inf", "nan", "1e999", "-1"])
def test_the_sim_load_must_be_a_finite_number(tmp_path: Any, rps: str) -> None:
    result = CliRunner().invoke(main, ["--data", str(tmp_path), "driver", "sim", "set-load", "md/chat", "-n", "a",
                                       "--rps", rps])
    assert result.exit_code == 2 and "rps" in result.output, result.output
    with pytest.raises(ValueError):
        set_load(tmp_path, "a", "chat", float(rps) if rps != "-1" else math.nan)


@pytest.mark.parametrize("seq", [1 << 63, 1 << 64, -1])
def test_a_forged_history_token_is_malformed(seq: int) -> None:
    query = pages.fingerprint("history", "x")
    token = pages.encode(pages.HistoryCursor(query, 1, True))
    forged = base64.urlsafe_b64encode(json.dumps(["h", query, seq, True]).encode()).decode().rstrip("=")
    assert pages.decode_history(token, query, True).seq == 1
    with pytest.raises(pages.BadContinue):
        pages.decode_history(forged, query, True)
