"""The projector's fast paths give exactly what the straightforward code gives: header parsing, stored
messages from deliveries, encoded timeline items, cause lists, timestamps, and spans only when recorded."""
from __future__ import annotations

import datetime as dt
import random
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from actors.capacity import CapacityGranted
from core import codec, subjects, wire
from core import headers as H
from core.events import Condition, SpecApplied, StatusUpdated
from core.feed import stored_from_delivery
from core.log import StoredMessage, stored_from_msg
from core.names import Ref
from core.replicas import StartReplica
from projections import reducer, telemetry, timeline

DEP = Ref("modeldeployment", "team-a", "chat")
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def library_parse(raw: bytes) -> dict[str, str]:
    return NATS._parse_header_lines(raw)


@pytest.mark.parametrize("raw", [
    b"Bosun-Type: status.updated\r\nBosun-Time: 1700000000.5\r\ntraceparent: " + TRACEPARENT.encode()
    + b"\r\nBosun-Causes: 1,2,3\r\n\r\n",
    b"", b"\r\n", b"no colon here\r\n", b":empty name\r\n", b"Name:\r\n", b"Name:value:with:colons\r\n",
    b"  Spaced  :  value  \r\n", b"Bad Name: x\r\n", b"Tab\tName: x\r\n", b"Sep\x1cName: x\r\n", b"Vt\x0b: x\r\n",
    b"Caf\xc3\xa9: x\r\n", b"Utf: caf\xc3\xa9\r\n", b"Broken: \xff\xfe\r\n", b"Dup: 1\r\nDup: 2\r\n",
    b"Lone\rCR: x\r\nLone: y\nz\r\n", b"Trail: x  \t\r\n\r\n",
])
def test_header_lines_parse_like_the_library(raw: bytes) -> None:
    assert wire.parse_header_lines(raw) == library_parse(raw)


def test_header_lines_parse_like_the_library_on_noise() -> None:
    rng = random.Random(7)
    alphabet = b"ab:- \t\r\n\x0b\x0c\x1c\x1f\x85\xa0\xc3\xa9\xff=,0"
    for _ in range(3000):
        raw = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        assert wire.parse_header_lines(raw) == library_parse(raw), raw


def test_whitespace_regex_agrees_with_isspace() -> None:
    for code in range(0x3000 + 1):
        ch = chr(code)
        assert (wire._WHITESPACE.search(ch) is not None) == ch.isspace(), hex(code)


def test_parse_headers_faster_swaps_only_that_connection() -> None:
    ours, other = NATS(), NATS()
    wire.faster_headers(ours)
    assert ours._parse_header_lines is wire.parse_header_lines
    assert other._parse_header_lines is not wire.parse_header_lines


async def published(send: Any, headers: dict[str, Any] | None) -> bytes | BaseException:
    """The bytes a client's `_send_publish` hands its connection (or what it raised); no connection."""
    nc = NATS()
    sent: list[bytes] = []

    async def capture(command: bytes) -> None:
        sent.append(command)

    nc._send_command = capture  # type: ignore[method-assign]
    try:
        await send(nc, "bosun.ev.x.ns.name.spec", "_INBOX_x.1", b"{}", 2, headers)
    except Exception as e:  # noqa: BLE001 - the comparison is of outcomes, exceptions included
        return e
    assert nc.stats["out_msgs"] == 1 and nc.stats["out_bytes"] == 2
    return sent[0]


@pytest.mark.parametrize("headers", [
    None, {}, {H.TYPE: "status.updated", H.TIME: "1700000000.5", "traceparent": TRACEPARENT, H.CAUSES: "1,2,3",
               "Nats-Msg-Id": "modeldeployment.ns.name/ctl/7", "Nats-Expected-Last-Subject-Sequence": "7"},
    {"  Spaced  ": "  value  "}, {"": "skipped"}, {"   ": "skipped too"}, {"Line": "a\r\nb\nc\rd"},
    {"Utf": "café ☕"}, {"Empty": ""}, {"Bad Name": "x"}, {"Ok": "1", "Caf\u00e9": "x"}, {"Tab\tIn": "x"},
    {"Colon:": "x"}, {"Value": "  \t padded \t "}, {"Bytes": b"x"}, {"Number": 7},
])
async def test_header_blocks_are_written_like_the_library(headers: dict[str, Any] | None) -> None:
    ours, library = await published(wire._send_publish, headers), await published(NATS._send_publish, headers)
    if isinstance(library, BaseException):  # a bad name: the same error naming it; a value not a str: TypeError
        assert type(ours) is type(library)
        assert str(ours) == str(library) or isinstance(library, TypeError)
    else:
        assert ours == library


async def test_header_blocks_are_written_like_the_library_on_noise() -> None:
    rng = random.Random(11)
    alphabet = "ab-_: \t\r\n\x0b\x1cé☕=,0"
    for _ in range(1000):
        headers = {"".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 8))):
                   "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12))) for _ in range(3)}
        ours, library = await published(wire._send_publish, headers), await published(NATS._send_publish, headers)
        assert (ours == library) if not isinstance(library, BaseException) else type(ours) is type(library), headers


def test_faster_headers_swaps_publishing_on_that_connection_only() -> None:
    ours, other = NATS(), NATS()
    wire.faster_headers(ours)
    assert ours._send_publish.__func__ is wire._send_publish  # type: ignore[attr-defined]
    assert other._send_publish.__func__ is NATS._send_publish  # type: ignore[attr-defined]


def delivery(seq: int, headers: dict[str, str] | None, reply: str | None = None) -> Msg:
    reply = reply or f"$JS.ACK.BOSUN.projector.1.{seq}.{seq}.1700000000123456789.0"
    return Msg(_client=None, subject=subjects.spec(DEP), reply=reply, data=b"{}", headers=headers)  # type: ignore[arg-type]


@pytest.mark.parametrize("msg", [
    delivery(42, {H.TIME: "1700000000.25", H.TYPE: "spec.applied"}),
    delivery(43, {H.TYPE: "spec.applied"}),  # no event time: the server's timestamp
    delivery(44, None),
    delivery(45, {H.TIME: ""}),
    delivery(46, {H.TIME: "1700000000.25"}, "$JS.ACK.dom.acchash.BOSUN.projector.1.46.46.1700000000123456789.0.r"),
])
def test_stored_message_of_a_delivery_is_the_librarys(msg: Msg) -> None:
    assert stored_from_delivery(msg.subject, msg.reply, dict(msg.headers or {}), msg.data) == stored_from_msg(msg)


def stored(seq: int, subject: str, event: Any, **hdrs: str) -> StoredMessage:
    return StoredMessage(seq, subject, codec.event_headers(event, 1_700_000_000.5 + seq / 7, **hdrs),
                         codec.encode(event), 1_700_000_000.5 + seq / 7)


@pytest.mark.parametrize("m", [
    stored(1, subjects.spec(DEP), SpecApplied(generation=1, spec={"replicas": 1, "x": [1.5, None, {"y": True}]},
                                             labels={"app": "chat"}, created=True),
           **{H.PRINCIPAL: "alice", H.CAUSES: "1,2", H.TRACEPARENT: TRACEPARENT}),
    stored(2, subjects.ctl(DEP, "deployments"), StatusUpdated(
        observed_generation=1, phase="Ready", conditions=(Condition(type="Ready", status="True", reason="Ok"),),
        fields={"readyReplicas": 1, "replicasByPool": {"infra/a": 1}}), **{H.CAUSES: " 3, x,4 ,,"}),
    stored(3, subjects.cmd("sim", DEP), StartReplica(replica="r", pool="p", gpus=1, model="m", generation=1),
           **{H.SENDER: DEP.token}),
    stored(4, subjects.ctl(Ref("gpupool", "infra", "a"), "pools"),
           CapacityGranted(request_id=1, requester=DEP.token, pool="infra/a", gpus=1), **{H.NOTIFY: DEP.token}),
    StoredMessage(5, "bosun.ev.mystery.ns.x.obs", {H.TYPE: "mystery.thing"}, b'{"a": [1, 2.0]}', 0.0),
    StoredMessage(6, subjects.obs(DEP), {}, b"not json", -1.5),
])
def test_written_timeline_item_is_the_entry_item_encoded(m: StoredMessage) -> None:
    entry = timeline.entry(m, reducer.decode(m))
    assert entry is not None
    written = timeline.written(m, reducer.decode(m), subjects.parse(m.subject))
    assert written[:5] == entry[:5]
    assert written.item == msgspec.json.encode(entry.item).decode()


@pytest.mark.parametrize("header", [None, "", "7", "1,2,3", "1, 2", " 1", "1,,2", "1,x,2", "1,2,", "-1,2",
                                    "١,2", "+3", "12345678901234567890,1"])
def test_causes_fast_path_agrees(header: str | None) -> None:
    slow = [] if not header else [int(tok) for tok in header.split(",") if tok.strip().isdigit()]
    assert timeline.causes(header) == slow


@pytest.mark.parametrize("epoch", [0.0, 1_700_000_000.5, 1_700_000_000.9999, 1_700_000_001.001, -1.5, -0.0004,
                                   1_234_567_890.123, 4_102_444_800.0])
def test_rfc3339_remembers_seconds_without_changing_the_text(epoch: float) -> None:
    millis = int(epoch * 1000)
    stamp = dt.datetime.fromtimestamp(millis // 1000, tz=dt.UTC)
    expected = f"{stamp:%Y-%m-%dT%H:%M:%S}.{millis % 1000:03d}Z"
    assert reducer.rfc3339(epoch) == expected
    assert reducer.rfc3339(epoch) == expected  # and from memory


def test_project_spans_only_when_spans_are_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[tuple[str, str | None, int | None]] = []

    class Recorder:
        def __init__(self, name: str, *, parent: str | None = None, seq: int | None = None, **_: Any) -> None:
            opened.append((name, parent, seq))

        def __enter__(self) -> None:
            return None

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr("core.tracing.span", Recorder)
    batch = [stored(1, subjects.spec(DEP), SpecApplied(generation=1, spec={}), **{H.TRACEPARENT: TRACEPARENT}),
             stored(2, subjects.obs(DEP), SpecApplied(generation=1, spec={}))]  # no traceparent: no span
    monkeypatch.setattr("core.tracing.recording", lambda: False)
    telemetry.project_spans(batch, 0)
    assert opened == []
    monkeypatch.setattr("core.tracing.recording", lambda: True)
    telemetry.project_spans(batch, 0)
    assert opened == [("project spec.applied", TRACEPARENT, 1)]
