"""A kind living in its own distribution, outside Bosun's kind folders: found through the entry-point group
`bosun.kinds`, tested with `bosun.testing`; a kind source that cannot load is one clear line (exit 2), not a
traceback. The distribution is a package plus its `.dist-info` in a temporary directory on the path, as an
installed wheel leaves them."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from actors.registry import installed, kinds_of, sources
from actors.scope import groups
from bosun.testing import Actor, World

ROOT = Path(__file__).parents[2]

LAMP = '''"""A lamp: Ready while it is on."""
import msgspec

import bosun


class LampSpec(msgspec.Struct, frozen=True):
    on: bool = False


class Lamp(msgspec.Struct, frozen=True):
    switched: int = 0


def evolve(r: bosun.Resource[LampSpec, Lamp], e: bosun.Event) -> Lamp:
    return Lamp(switched=r.state.switched + 1) if isinstance(e, bosun.SpecApplied) else r.state


def decide(r: bosun.Resource[LampSpec, Lamp], now: float, ctx: bosun.Context) -> bosun.Decision:
    return bosun.Decision(events=(r.status_update("Ready" if r.spec.on else "Pending"),))


LAMP = bosun.Kind(name="Lamp", spec=LampSpec, state=Lamp, evolve=evolve, decide=decide)
'''


def distribution(root: Path, module: str = LAMP, entry: str = "lamp = lampkinds:LAMP") -> Path:
    """`lampkinds` 0.1 as pip installs it: the package and its metadata with the `bosun.kinds` entry point."""
    site = root / "site"
    (site / "lampkinds").mkdir(parents=True)
    (site / "lampkinds" / "__init__.py").write_text(module)
    info = site / "lampkinds-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lampkinds\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[bosun.kinds]\n{entry}\n")
    return site


def test_an_installed_distribution_brings_its_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(distribution(tmp_path)))
    monkeypatch.delenv("BOSUN_KINDS", raising=False)
    assert installed() == ["lamp=lampkinds:LAMP"]
    [lamp] = kinds_of("lamp=lampkinds:LAMP")
    assert groups(sources()) == [("lamp",)]  # `bosun up` runs it in a controller process of its own

    desk = Actor(lamp, "home/desk").spec({"on": False})
    assert [e.phase for e in desk.decide().events] == ["Pending"]  # type: ignore[attr-defined]
    assert [e.phase for e in desk.spec({"on": True}).decide().events] == ["Ready"]  # type: ignore[attr-defined]
    assert desk.state.switched == 2

    w = World(lamp)
    w.apply("Lamp", "home/hall", {"on": True})
    w.run()
    hall = w.status("lamps", "home/hall")
    assert hall is not None and hall.phase == "Ready"


def _bosun_up(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    bosun = Path(sys.executable).parent / "bosun"
    return subprocess.run([str(bosun), "up", "--data", str(tmp_path / "data")], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **env})


def test_bosun_up_says_in_one_line_which_kind_module_cannot_load(tmp_path: Path) -> None:
    done = _bosun_up(tmp_path, BOSUN_KINDS="examples.kinds.notebook,nowhere.kinds", PYTHONPATH=str(ROOT))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == ("error: cannot load kind module 'nowhere.kinds': ModuleNotFoundError: "
                                   "No module named 'nowhere'")
    assert not (tmp_path / "data" / "nats").exists()  # nothing was started


def test_bosun_up_says_in_one_line_which_entry_point_cannot_load(tmp_path: Path) -> None:
    site = distribution(tmp_path, module="raise RuntimeError('lamp is broken')\n")
    done = _bosun_up(tmp_path, PYTHONPATH=str(site), BOSUN_KINDS="")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == ("error: cannot load entry point 'lamp' (lampkinds:LAMP): RuntimeError: "
                                   "lamp is broken")
