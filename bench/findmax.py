"""The search behind `bosun bench steady --find-max`: the highest rate whose declared->Ready p99 holds.

Pure: the caller runs a probe at `next_rate()` and `record`s whether it held. The search doubles from the
start rate until a probe fails (or the ceiling holds), then bisects between the highest rate that held
and the lowest that failed until they are within `step` of each other or `max_probes` ran. It assumes
that holding is monotone in the rate (a noisy probe can break that; the result is then the highest rate
that held, which is still a rate the plane was seen to sustain).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RateSearch:
    start: float = 100.0
    ceiling: float = 3200.0
    step: float = 25.0
    """Stop once the rate that held and the one that failed are this close (applies/s)."""
    max_probes: int = 8
    floor: float = 1.0
    probes: list[tuple[float, bool]] = field(default_factory=list)

    @property
    def held(self) -> float | None:
        """The highest probed rate that held: the saturation throughput found so far."""
        return max((rate for rate, ok in self.probes if ok), default=None)

    @property
    def failed(self) -> float | None:
        """The lowest probed rate above `held` that failed."""
        held = self.held or 0.0
        return min((rate for rate, ok in self.probes if not ok and rate > held), default=None)

    def next_rate(self) -> float | None:
        """The rate to probe next, or None when the search is done."""
        if len(self.probes) >= self.max_probes:
            return None
        lo, hi = self.held, self.failed
        if not self.probes:
            return min(self.start, self.ceiling)
        if hi is None:  # everything so far held: go up, or stop at the ceiling
            assert lo is not None
            return None if lo >= self.ceiling else min(lo * 2, self.ceiling)
        if lo is None:  # nothing held yet: go down
            rate = hi / 2
            return None if rate < self.floor else self._rounded(rate)
        if hi - lo <= self.step:
            return None
        rate = self._rounded((lo + hi) / 2)
        return rate if lo < rate < hi else None

    def record(self, rate: float, ok: bool) -> None:
        self.probes.append((rate, ok))

    def _rounded(self, rate: float) -> float:
        """Rates on a grid of `step` (when above it), so reports read 450/s rather than 437.5/s."""
        return float(round(rate / self.step) * self.step) if rate > self.step else round(rate, 1)
