"""A live actor in the host: the kernel's actor (`actors.kernel.Actor`) plus what the host keeps beside it.

No I/O here. Beside the fold and its sequence marks, a cell holds its mailbox queue, whether a drain is
running, the trace of its last event, its timer and when it went idle, and the snapshot it is saved as.
"""
from __future__ import annotations

import zlib
from collections import deque
from typing import Any

import msgspec

from actors.controller import Controller
from actors.kernel import Actor
from core import codec
from core.names import Ref


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """What is stored in the snapshot bucket: a fold of the log up to `hwm`, plus own writes past it."""

    state: msgspec.Raw
    hwm: int
    own: tuple[int, ...] = ()
    ctl_seq: int = 0
    cmd_seqs: dict[str, int] = {}
    wake_at: float | None = None
    failures: int = 0


_snapshot_decoder = msgspec.json.Decoder(Snapshot)
_encoder = msgspec.json.Encoder()
COMPRESSED = b"z"
"""A snapshot over `COMPRESS_OVER` bytes is stored as `z` + its zlib-compressed JSON (JSON never starts with
`z`): a pool made of a thousand nodes holds a slot per replica, and 10,000 of them passed NATS's payload limit
(the put refused, the host restarted over and over)."""
COMPRESS_OVER = 64 * 1024


class Cell(Actor):
    """A resource's actor while it is in memory."""

    __slots__ = ("idle_since", "queue", "running", "saved", "trace", "wake_at")

    def __init__(self, ref: Ref, controller: Controller[Any], snapshot: Snapshot | None = None) -> None:
        super().__init__(ref, controller,
                         None if snapshot is None else codec.decode_state(snapshot.state, controller.state_type))
        self.queue: deque[Any] = deque()
        self.running = False
        self.trace: dict[str, str] = {}
        self.idle_since = 0.0
        self.wake_at: float | None = None
        self.saved = 0
        if snapshot is not None:
            self.hwm, self.own = snapshot.hwm, set(snapshot.own)
            self.ctl_seq, self.cmd_seqs = snapshot.ctl_seq, dict(snapshot.cmd_seqs)
            self.wake_at, self.failures = snapshot.wake_at, snapshot.failures
            self.version = 0

    @property
    def busy(self) -> bool:
        """Work in flight: queued or running, own writes not yet seen back, causes not yet decided on."""
        return bool(self.running or self.queue or self.own or self.causes)

    @property
    def dirty(self) -> bool:
        """Changed since the last snapshot that was stored (`saved` is the version it captured)."""
        return self.version != self.saved

    def snapshot(self) -> bytes:
        snap = Snapshot(state=msgspec.Raw(codec.state_encoder.encode(self.state)), hwm=self.hwm,
                        own=tuple(sorted(self.own)),
                        ctl_seq=self.ctl_seq, cmd_seqs=self.cmd_seqs, wake_at=self.wake_at, failures=self.failures)
        raw = _encoder.encode(snap)
        return raw if len(raw) <= COMPRESS_OVER else COMPRESSED + zlib.compress(raw, 1)

    @staticmethod
    def load(data: bytes) -> Snapshot:
        return _snapshot_decoder.decode(zlib.decompress(data[1:]) if data[:1] == COMPRESSED else data)
