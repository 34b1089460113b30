"""The acked-write ledger's checker: hand-built histories, including ones it must reject."""
from __future__ import annotations

from chaos.figures import percentile, slope
from chaos.ledger import ABSENT, Op, check, outcome_of


def op(resource: str, value: int, outcome: str, t: float) -> Op:
    return Op(resource, value, outcome, started=t, ended=t + 0.1)  # type: ignore[arg-type]


def test_every_acked_write_reflected_passes() -> None:
    ledger = [op("a", 1, "ack", 1), op("a", 3, "ack", 2), op("b", 2, "ack", 1), op("b", ABSENT, "ack", 2)]
    verdict = check(ledger, {"a": 3, "b": ABSENT})
    assert verdict.ok and (verdict.requests, verdict.acked) == (4, 4)


def test_an_older_value_after_an_ack_is_a_lost_write() -> None:
    ledger = [op("a", 1, "ack", 1), op("a", 3, "ack", 2)]
    verdict = check(ledger, {"a": 1})
    assert verdict.lost == ["a"] and not verdict.ok


def test_an_acked_delete_that_left_the_resource_is_lost() -> None:
    assert check([op("a", 2, "ack", 1), op("a", ABSENT, "ack", 2)], {"a": 2}).lost == ["a"]


def test_an_acked_create_that_vanished_is_lost() -> None:
    assert check([op("a", 2, "ack", 1)], {}).lost == ["a"]


def test_an_unknown_outcome_after_the_last_ack_may_or_may_not_apply() -> None:
    ledger = [op("a", 1, "ack", 1), op("a", 2, "unknown", 2), op("a", 3, "unknown", 3)]
    for final in (1, 2, 3):
        assert check(ledger, {"a": final}).ok


def test_an_unknown_outcome_before_the_last_ack_is_superseded() -> None:
    ledger = [op("a", 2, "unknown", 1), op("a", 1, "ack", 2)]
    assert check(ledger, {"a": 2}).lost == ["a"]


def test_a_refused_write_that_appears_is_a_phantom() -> None:
    ledger = [op("a", 1, "ack", 1), op("a", 2, "nack", 2)]
    verdict = check(ledger, {"a": 2})
    assert verdict.phantom == ["a"] and verdict.lost == []


def test_a_resource_nobody_wrote_is_a_phantom() -> None:
    assert check([op("a", 1, "ack", 1)], {"a": 1, "zz": 3}).phantom == ["zz"]


def test_order_is_by_invocation_not_by_ledger_position() -> None:
    ledger = [op("a", 3, "ack", 2), op("a", 1, "ack", 1)]
    assert check(ledger, {"a": 3}).ok and check(ledger, {"a": 1}).lost == ["a"]


def test_outcomes_of_statuses() -> None:
    assert [outcome_of(s) for s in (202, 409, 422, 503, 0, -1)] == [
        "ack", "nack", "nack", "unknown", "unknown", "nack"]


def test_figures() -> None:
    assert slope([(0, 1), (1, 3), (2, 5)]) == 2.0 and slope([(1, 1)]) == 0.0
    assert percentile(list(range(1, 101)), 99) == 99 and percentile([], 99) == 0.0
