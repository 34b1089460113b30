"""Partition sharing arithmetic (pure): fair shares, free partitions, what to hand off, lease values."""
from __future__ import annotations

import math

import msgspec

from actors.balance import Lease, Presence, excess, fair_share, free, lease_of, presences
from cli.controllers import _ranges


def test_n_hosts_holding_their_fair_share_cover_every_partition() -> None:
    for hosts in range(1, 17):
        assert fair_share(16, hosts) * hosts >= 16
    assert fair_share(16, 0) == 16


def test_a_host_above_its_share_hands_off_its_highest_partitions() -> None:
    assert excess(set(range(16)), 8) == set(range(8, 16))
    assert excess({1, 2}, 8) == set()


def test_expired_and_missing_leases_are_free_live_ones_are_not() -> None:
    board = {"p.0": msgspec.json.encode(Lease("a", 200.0)), "p.1": msgspec.json.encode(Lease("b", 50.0))}
    assert free(board, 3, now=100.0) == {1, 2}


def test_a_bare_host_id_from_an_older_version_never_expires_by_itself() -> None:
    assert lease_of(b"main") == Lease("main", math.inf)


def test_only_live_presence_records_count_as_hosts() -> None:
    live = Presence("a", [0], 10.0, 0, 0, expires=200.0)
    gone = Presence("b", [1], 10.0, 0, 0, expires=50.0)
    board = {"host.a": msgspec.json.encode(live), "host.b": msgspec.json.encode(gone), "host.c": b"junk",
             "p.0": msgspec.json.encode(Lease("a", 200.0))}
    assert presences(board, now=100.0) == [live]


def test_partition_lists_are_shown_as_ranges() -> None:
    assert _ranges([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert _ranges([]) == "-"


def test_the_owners_look_again_when_another_hosts_lease_or_presence_runs_out() -> None:
    from actors.balance import next_expiry

    board = {"p.0": msgspec.json.encode(Lease("a", 130.0)), "p.1": msgspec.json.encode(Lease("b", 120.0)),
             "p.2": msgspec.json.encode(Lease("b", 90.0)), "p.3": b"old-host",
             "host.b": msgspec.json.encode(Presence("b", [1], 120.0, 0, 0, expires=125.0))}
    assert next_expiry(board, "a", now=100.0) == 120.0  # not ours, not past, not an old bare value
    assert next_expiry(board, "b", now=100.0) == 130.0
    assert next_expiry({}, "a", now=100.0) is None


def test_every_scope_s_hosts_are_listed_with_the_scope_of_their_key() -> None:
    from actors.balance import all_presences

    main = Presence("a", [0], 10.0, 0, 0, expires=200.0)
    scoped = Presence("n1", [0, 1], 10.0, 0, 0, expires=200.0, kinds=["notebook"])
    board = {"host.a": msgspec.json.encode(main), "notebook.host.n1": msgspec.json.encode(scoped),
             "notebook.p.0": msgspec.json.encode(Lease("n1", 200.0)), "x.y.host.z": msgspec.json.encode(main)}
    found = all_presences(board, now=100.0)
    assert [(p.scope, p.hostId, p.kinds) for p in found] == [("", "a", []), ("notebook", "n1", ["notebook"])]
