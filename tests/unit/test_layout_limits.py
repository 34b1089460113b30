"""Small modules with one job: no source module over 400 lines, no function over 60 (tests excepted)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]
PACKAGES = ("core", "actors", "projections", "gateway", "cli", "supervisor", "dataplane", "bench", "corpus", "examples")


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_no_module_is_over_400_lines() -> None:
    sources = _sources()
    assert len(sources) > 50
    assert [str(p.relative_to(ROOT)) for p in sources if p.read_text().count("\n") > 400] == []


def test_no_function_is_over_60_lines() -> None:
    long = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if (node.end_lineno or 0) - node.lineno + 1 > 60:
                long.append(f"{path.relative_to(ROOT)}:{node.name}")
    assert long == []
