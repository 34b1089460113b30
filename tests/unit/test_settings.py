"""Every environment variable is a field of `core.settings.Settings` with a row in docs/configuration.md, and
only that module reads the environment — never at import time (issue #22)."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core import settings
from core.settings import DEFAULTS, VARIABLES, WRITTEN, Settings, SettingsError, from_env

ROOT = Path(__file__).parents[2]
PRODUCT = ("core", "actors", "projections", "gateway", "dataplane", "cli", "supervisor", "lifecycle")
SHIPPED = (*PRODUCT, "bench", "chaos", "corpus")
"""The wheel's packages (pyproject.toml's `packages.find`): tools included, they ship with the CLI."""
NAME = re.compile(r"\bBOSUN_[A-Z][A-Z0-9_]*[A-Z0-9]\b")
READS_ENVIRONMENT = {
    "core/settings.py": "the one module that reads it",
    "actors/registry.py": "BOSUN_KINDS, until the kind registry takes it from Settings (issue #22, part 2)",
    "dataplane/process/fence.py": "passes the locale on to replicas' clean environment: not configuration",
}
TABLE = ROOT / "docs" / "configuration.md"


def _sources(packages: tuple[str, ...]) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def _names(paths: list[Path]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in paths:
        for name in NAME.findall(path.read_text()):
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def _rows() -> dict[str, list[str]]:
    """Variable -> its row's cells, for every table row of docs/configuration.md naming one."""
    rows = {}
    for line in TABLE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and (m := re.fullmatch(r"`([A-Z][A-Z0-9_]+)`", cells[0])):
            rows[m.group(1)] = cells
    return rows


def test_every_bosun_name_of_the_product_has_a_row_in_the_table() -> None:
    used = _names([*_sources(SHIPPED), ROOT / "compose.yaml", ROOT / "Dockerfile"])
    missing = {name: sorted(where) for name, where in used.items() if name not in _rows()}
    assert missing == {}, "add a row to docs/configuration.md"


def test_every_bosun_name_in_the_code_is_a_setting_or_a_variable_bosun_sets() -> None:
    used = _names([p for p in _sources(SHIPPED) if p != ROOT / "core" / "settings.py"])
    unknown = {name: sorted(where) for name, where in used.items() if name not in VARIABLES | WRITTEN}
    assert unknown == {}, "read it through core/settings.py (a field of Settings), or list it in WRITTEN"


def test_the_table_has_every_setting_with_its_default_and_no_stale_row() -> None:
    rows = _rows()
    assert sorted(VARIABLES - rows.keys()) == []
    compose = set(_names([ROOT / "compose.yaml"]))
    stale = {n for n in rows if n.startswith("BOSUN_")} - VARIABLES - WRITTEN - compose
    assert stale == set()
    for field in settings.msgspec.structs.fields(Settings):
        default = getattr(DEFAULTS, field.name)
        if default not in (None, ""):
            shown = f"`{int(default)}`" if isinstance(default, float) and default.is_integer() else f"`{default}`"
            assert shown in rows[field.encode_name][1], (field.encode_name, shown)


def test_variables_are_parsed_and_bad_values_name_the_variable() -> None:
    got = from_env({"BOSUN_LEASE_TTL": "2", "BOSUN_READ": "partitions", "BOSUN_STREAM_REPLICAS": "3",
                    "BOSUN_HOST_ID": "", "BOSUN_KINDS": " a.b , c ,", "PATH": "/bin"})
    assert (got.lease_ttl, got.read, got.stream_replicas, got.host_id) == (2.0, "partitions", 3, None)
    assert got.kind_modules == ["a.b", "c"]
    assert from_env({}) == DEFAULTS
    for name, value in (("BOSUN_LEASE_TTL", "soon"), ("BOSUN_READ", "sideways"), ("BOSUN_STREAM_REPLICAS", "0"),
                        ("BOSUN_STEP_BUDGET", "-1")):
        with pytest.raises(SettingsError, match=name):
            from_env({name: value})


def test_a_child_environment_is_rendered_from_the_settings_not_inherited_blindly() -> None:
    parent = {"PATH": "/bin", "BOSUN_LEASE_TTL": "9", "BOSUN_READ": "stream", "BOSUN_REPLICA": "x"}
    child = Settings(lease_ttl=2.0, stream_replicas=3).environment(parent, BOSUN_NATS_URL="nats://n")
    assert child == {"PATH": "/bin", "BOSUN_REPLICA": "x", "BOSUN_LEASE_TTL": "2.0", "BOSUN_STREAM_REPLICAS": "3",
                     "BOSUN_NATS_URL": "nats://n"}
    assert from_env(child).lease_ttl == 2.0 and from_env(child).read == "auto"


def test_no_product_module_reads_the_environment_but_the_settings_module() -> None:
    readers = set()
    for path in _sources(PRODUCT):
        for node in ast.walk(ast.parse(path.read_text())):
            environ = isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb")
            envvar = isinstance(node, ast.keyword) and node.arg in ("envvar", "auto_envvar_prefix")
            if environ or envvar:
                readers.add(str(path.relative_to(ROOT)))
    assert readers - READS_ENVIRONMENT.keys() == set(), "take the value from core.settings.Settings"


def test_importing_every_product_module_reads_no_bosun_variable() -> None:
    """Import-time reads (a module constant from the environment) are invisible to a caller and a test:
    every product module is imported with `os.environ` recording what Bosun's own code reads."""
    script = f"""
import importlib, json, os, pkgutil, sys
root = {str(ROOT)!r}
sys.path.insert(0, root)
read = set()
class Recording(type(os.environ)):
    def __getitem__(self, key):
        caller = sys._getframe(1)
        while caller is not None and caller.f_code.co_filename.endswith(("os.py", "_collections_abc.py", "os>",
                                                                         "_collections_abc>")):
            caller = caller.f_back
        mine = caller is not None and caller.f_code.co_filename.startswith(root + os.sep)
        if mine and str(key).startswith("BOSUN_"):
            read.add(str(key) + " from " + os.path.relpath(caller.f_code.co_filename, root))
        return super().__getitem__(key)
os.environ.__class__ = Recording
for package in {list(PRODUCT)!r}:
    importlib.import_module(package)
    for info in pkgutil.walk_packages([os.path.join(root, package)], prefix=package + "."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
print(json.dumps(sorted(read)))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True,
                         env={"PATH": "/usr/bin:/bin"}, cwd=ROOT)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
