"""CLI output: aligned tables, ages, kind columns."""
from __future__ import annotations

from cli.output import age, rows_of, scalar, table
from tests.conftest import REGISTRY


def test_table_aligns_columns() -> None:
    out = table(["NAME", "PHASE"], [["chat", "Ready"], ["a-much-longer-name", "Pending"]])
    lines = out.splitlines()
    assert lines[0] == "NAME                 PHASE"
    assert lines[1].index("Ready") == lines[0].index("PHASE") == lines[2].index("Pending")


def test_age() -> None:
    assert age(100.0, 145.0) == "45s"
    assert age(0, 3 * 3600 + 5) == "3h"
    assert age("1970-01-01T00:00:00.000Z", 2 * 86400) == "2d"
    assert age(None, 0) == "<unknown>"


def test_rows_use_kind_columns() -> None:
    obj = {"kind": "ModelDeployment", "metadata": {"name": "chat", "namespace": "demo", "createdAt": 0},
           "spec": {"model": "llama", "replicas": 3}, "status": {"phase": "Ready", "readyReplicas": 3}}
    headers, rows = rows_of(REGISTRY.kind("modeldeployment"), [obj], 60, namespaces=True)
    assert headers == ["NAMESPACE", "NAME", "PHASE", "MODEL", "READY", "POOLS", "AGE"]
    assert rows == [["demo", "chat", "Ready", "llama", "3/3", "", "1m"]]
    headers, _ = rows_of(REGISTRY.kind("modeldeployment"), [obj], 60, namespaces=False, wide=True)
    assert headers[:2] == ["NAME", "PHASE"] and "LABELS" in headers


def test_scalar() -> None:
    assert (scalar(None), scalar("x"), scalar(3), scalar({"a": 1})) == ("<none>", "x", "3", '{"a": 1}')


def test_control_characters_never_reach_the_terminal_raw() -> None:
    """Issue #13 (low): NUL and ESC sequences in stored strings are printed escaped, not interpreted."""
    out = table(["NAME", "MODEL"], [["chat", "\x1b[2J\x1b[31mowned\x00"]])
    assert "\x1b" not in out and "\x00" not in out
    assert "\\x1b[2J\\x1b[31mowned\\x00" in out
    assert "\x1b" not in scalar("\x1b]0;title\x07")
