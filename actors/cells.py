"""One live actor's bookkeeping: its folded state and the sequence rules that make redelivery harmless.

No I/O here. The host feeds a cell stored messages (delivered by the consumer) and its own writes
(folded as soon as JetStream acks them); a cell knows which of those it has already seen.
"""
from __future__ import annotations

from collections import deque
from typing import Any

import msgspec

from actors.controller import Controller
from core import codec, subjects
from core.events import Event
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


class Cell:
    """A resource's actor while it is in memory."""

    __slots__ = (
        "causes",
        "cmd_seqs",
        "controller",
        "ctl_seq",
        "ctl_subject",
        "failures",
        "hwm",
        "idle_since",
        "key",
        "own",
        "queue",
        "ref",
        "running",
        "saved",
        "state",
        "trace",
        "version",
        "wake_at",
    )

    def __init__(self, ref: Ref, controller: Controller[Any], snapshot: Snapshot | None = None) -> None:
        self.ref = ref
        self.controller = controller
        self.key = f"{ref.token}.{controller.companion}" if controller.companion else ref.token
        """Identity of this actor (snapshot key, timers): the token, suffixed for a companion controller."""
        self.ctl_subject = subjects.ctl(ref, controller.name)
        self.queue: deque[Any] = deque()
        self.running = False
        self.causes: list[int] = []
        self.trace: dict[str, str] = {}
        self.idle_since = 0.0
        if snapshot is None:
            self.state: Any = controller.initial(ref)
            self.hwm, self.own, self.ctl_seq, self.cmd_seqs = 0, set[int](), 0, dict[str, int]()
            self.wake_at: float | None = None
            self.failures = 0
            self.version, self.saved = 1, 0
        else:
            self.state = codec.decode_state(snapshot.state, controller.state_type)
            self.hwm, self.own = snapshot.hwm, set(snapshot.own)
            self.ctl_seq, self.cmd_seqs = snapshot.ctl_seq, dict(snapshot.cmd_seqs)
            self.wake_at, self.failures = snapshot.wake_at, snapshot.failures
            self.version = self.saved = 0

    def seen(self, seq: int) -> bool:
        """True for a message already folded: at or below the high-water mark, or one of our own writes."""
        if seq <= self.hwm:
            return True
        if seq in self.own:
            self.own.discard(seq)
            self.hwm = seq
            self.own = {s for s in self.own if s > seq}
            return True
        return False

    def fold_delivered(self, seq: int, subject: str, event: Event) -> None:
        self.hwm = seq
        self._track(seq, subject)
        self.fold(event)
        self.causes.append(seq)

    def fold_own(self, seq: int, subject: str, event: Event) -> None:
        if seq > self.hwm:
            self.own.add(seq)
        self._track(seq, subject)
        self.fold(event)

    def fold(self, event: Event) -> None:
        self.state = self.controller.evolve(self.state, event)
        self.version += 1

    @property
    def busy(self) -> bool:
        """Work in flight: queued or running, own writes not yet seen back, causes not yet decided on."""
        return bool(self.running or self.queue or self.own or self.causes)

    @property
    def dirty(self) -> bool:
        """Changed since the last snapshot that was stored (`saved` is the version it captured)."""
        return self.version != self.saved

    def _track(self, seq: int, subject: str) -> None:
        """Remember the last sequence of each subject this actor writes: the expected sequence of its next write."""
        if subject == self.ctl_subject:
            self.ctl_seq = max(self.ctl_seq, seq)
        elif subject.startswith("bosun.cmd."):
            driver = subject.split(".", 3)[2]
            self.cmd_seqs[driver] = max(self.cmd_seqs.get(driver, 0), seq)

    def snapshot(self) -> bytes:
        snap = Snapshot(state=msgspec.Raw(codec.state_encoder.encode(self.state)), hwm=self.hwm,
                        own=tuple(sorted(self.own)),
                        ctl_seq=self.ctl_seq, cmd_seqs=self.cmd_seqs, wake_at=self.wake_at, failures=self.failures)
        return _encoder.encode(snap)

    @staticmethod
    def load(data: bytes) -> Snapshot:
        return _snapshot_decoder.decode(data)
