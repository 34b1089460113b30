"""`bosun bench gate` (or `python -m bench.gate`): burst and steady for this commit and its parent, alternately.

Two builds of Bosun run the same scenarios on the same machine in the same period, interleaved run by run
(base, head, then head, base, ...), so a slow minute of a shared box lands on both sides. Each side's
figure is the median of its runs; the table gives head/base and flags a figure that got worse by more
than the threshold, by more than its noise floor, and in every run (the sides' runs do not overlap). The
exit status is 1 on a regression, 2 when a run failed. Used before every merge that touches the hot path (issue 27).

Each ref is exported with `git archive` into a temporary directory (no `.git/worktrees` entry is left
behind if the gate is killed) and run with `PYTHONPATH` set to it, so its code wins over whatever the
venv has installed. The venv is either given (`--venv .venv`, fastest; fine while both refs have the same
dependencies) or built once per `pyproject.toml` content under `--cache` and reused by later gates.
`--head .` measures the working tree as it is, uncommitted changes included. Both sides are measured with
head's `bench/` (copied over base's export): one instrument, only the product differs, and a base older
than a scenario can still run it (`--own-bench` keeps each side's).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Figure:
    """One number read from a scenario's JSON report."""

    key: str
    scenario: str
    path: tuple[str, ...]
    lower_is_better: bool
    floor: float
    """A difference smaller than this is noise whatever the ratio (a 2 ms p99 that became 3 ms)."""


FIGURES = (
    Figure("burst_all_ready_s", "burst", ("nats", "all_ready_seconds"), True, 0.2),
    Figure("burst_ceiling_ratio", "burst", ("nats", "ceiling_ratio"), False, 0.02),
    Figure("burst_ready_p99_ms", "burst", ("nats", "declared_to_ready", "p99_ms"), True, 200.0),
    Figure("steady_apply_p99_ms", "steady", ("apply_202", "p99_ms"), True, 5.0),
    Figure("steady_ready_p50_ms", "steady", ("declared_to_ready", "p50_ms"), True, 5.0),
    Figure("steady_ready_p99_ms", "steady", ("declared_to_ready", "p99_ms"), True, 20.0),
    Figure("budget_plane_cpu_us", "budget", ("plane_cpu_us_per_resource",), True, 100.0),
    Figure("budget_controller_us", "budget", ("cpu", "controller", "us_per_resource"), True, 50.0),
    Figure("budget_appends", "budget", ("appended_per_resource",), True, 0.05),
    Figure("budget_deliveries", "budget", ("delivered_per_resource",), True, 0.05),
)
"""CPU per converged resource (`budget`) moves far less with the machine's load than wall-clock figures."""


def extract(doc: dict[str, Any], figure: Figure) -> float | None:
    value: Any = doc
    for part in figure.path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return float(value) if isinstance(value, (int, float)) else None


@dataclass(frozen=True)
class Row:
    figure: Figure
    base: list[float]
    head: list[float]

    @property
    def base_median(self) -> float | None:
        return statistics.median(self.base) if self.base else None

    @property
    def head_median(self) -> float | None:
        return statistics.median(self.head) if self.head else None

    @property
    def ratio(self) -> float | None:
        """head / base (below 1 is faster for a time, slower for a throughput ratio)."""
        b, h = self.base_median, self.head_median
        return None if b is None or h is None or b == 0 else h / b

    def worse_by(self) -> float | None:
        """How many times worse head is than base (1.0 = same; below 1 = better)."""
        b, h = self.base_median, self.head_median
        if b is None or h is None:
            return None
        if self.figure.lower_is_better:
            return h / b if b > 0 else (1.0 if h <= 0 else float("inf"))
        return b / h if h > 0 else (1.0 if b <= 0 else float("inf"))

    def separated(self) -> bool:
        """Every head run worse than every base run: the sides' runs do not overlap. With three runs a side
        that happens by chance one time in twenty; on a box whose load swings, a median alone does not
        mean much (a saturated minute moves one run by seconds)."""
        if not self.base or not self.head:
            return False
        if self.figure.lower_is_better:
            return min(self.head) > max(self.base)
        return max(self.head) < min(self.base)

    def regressed(self, threshold: float) -> bool:
        worse = self.worse_by()
        b, h = self.base_median, self.head_median
        if worse is None or b is None or h is None:
            return False
        return worse > 1 + threshold and abs(h - b) > self.figure.floor and self.separated()


def rows(base_docs: Sequence[dict[str, Any]], head_docs: Sequence[dict[str, Any]]) -> list[Row]:
    """Each figure's samples on both sides, from the scenario reports each side produced."""
    out = []
    for figure in FIGURES:
        def samples(docs: Sequence[dict[str, Any]], figure: Figure = figure) -> list[float]:
            values = (extract(d, figure) for d in docs if d.get("scenario") == figure.scenario)
            return [v for v in values if v is not None]
        b, h = samples(base_docs), samples(head_docs)
        if b or h:
            out.append(Row(figure, b, h))
    return out


def schedule(rounds: int, scenarios: Sequence[str]) -> list[tuple[str, str]]:
    """(side, scenario) in run order: per round each scenario on both sides, the side that goes first
    alternating between rounds so neither always runs on a warmer (or busier) machine."""
    out = []
    for r in range(rounds):
        sides = ("base", "head") if r % 2 == 0 else ("head", "base")
        out += [(side, scenario) for scenario in scenarios for side in sides]
    return out


def figures(table: list[Row], threshold: float) -> list[dict[str, Any]]:
    """The rows as the JSON report carries them, each with its verdict."""
    def rounded(v: float | None) -> float | None:
        return None if v is None else round(v, 3)
    return [{"figure": r.figure.key, "base": r.base, "head": r.head, "base_median": rounded(r.base_median),
             "head_median": rounded(r.head_median), "ratio": rounded(r.ratio), "worse_by": rounded(r.worse_by()),
             "regressed": r.regressed(threshold)} for r in table]


def render(result: dict[str, Any]) -> str:
    from bench.report import machine_line, table

    lines = [f"== gate: base {result['base']['ref']} ({result['base']['commit'][:10]}) vs "
             f"head {result['head']['ref']} ({result['head']['commit'][:10]}), {result['rounds']} rounds",
             machine_line(result["machine"]),
             "load average (1 min) before each run: "
             + ", ".join(f"{r['side']}/{r['scenario']} {r['load']:.2f}" for r in result["runs"])]
    body = []
    for row in result["figures"]:
        worse = row["worse_by"]
        verdict = "REGRESSED" if row["regressed"] else ("better" if worse is not None and worse < 1 else "ok")
        body.append([row["figure"], row["base_median"], row["head_median"], row["ratio"],
                     " ".join(f"{v:g}" for v in row["base"]), " ".join(f"{v:g}" for v in row["head"]),
                     verdict])
    lines += table(["figure", "base", "head", "head/base", "base runs", "head runs", "verdict"], body)
    failed = [r for r in result["runs"] if not r["ok"]]
    lines += [f"FAILED: {r['side']}/{r['scenario']}: {r['error']}" for r in failed]
    lines.append(f"(a figure REGRESSED when its median is worse by more than {result['threshold']:.0%} and by more "
                 "than its noise floor, and every head run is worse than every base run)")
    return "\n".join(lines)


# --- I/O: checkouts, venvs, runs ---------------------------------------------------------------------


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


@dataclass
class Side:
    name: str
    ref: str
    commit: str
    src: Path
    python: Path = field(default=Path(sys.executable))


@contextmanager
def checkout(ref: str, tmp: Path, name: str) -> Iterator[tuple[str, Path]]:
    """(commit, source dir) of `ref`; `.` is the working tree itself."""
    if ref == ".":
        yield git("rev-parse", "HEAD") + "+worktree", ROOT
        return
    commit = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    dest = tmp / name
    dest.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True,
                             check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    yield commit, dest


def venv_for(src: Path, cache: Path) -> Path:
    """A venv with `src`'s dependencies (and the bench extra), built once per pyproject.toml content."""
    digest = hashlib.sha256((src / "pyproject.toml").read_bytes()).hexdigest()[:12]
    root = cache / f"venv-{digest}"
    python = root / "bin" / "python"
    if (root / ".ready").exists():
        return python
    click.echo(f"gate: building {root} (once per pyproject.toml)", err=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(root)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"{src}[bench]"], check=True)
    (root / ".ready").write_text(digest)
    return python


def run_one(side: Side, scenario: str, args: Sequence[str], timeout: float) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(side.src)}
    env.pop("BOSUN_CONTEXT", None)
    proc = subprocess.run([str(side.python), "-m", "bench", scenario, *args, "--json"], cwd=side.src, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def gate(base_ref: str, head_ref: str, rounds: int, scenarios: dict[str, list[str]], venv: Path | None,
         cache: Path, timeout: float, threshold: float, same_bench: bool = True, keep: Path | None = None,
         ) -> dict[str, Any]:
    from bench.machine import info

    with tempfile.TemporaryDirectory(prefix="bosun-gate-") as tmp_name:
        tmp = Path(tmp_name)
        with checkout(base_ref, tmp, "base") as (bc, bsrc), checkout(head_ref, tmp, "head") as (hc, hsrc):
            if same_bench and bsrc not in (hsrc, ROOT):  # never over the working tree (`--base .`)
                shutil.rmtree(bsrc / "bench")
                shutil.copytree(hsrc / "bench", bsrc / "bench", ignore=shutil.ignore_patterns("__pycache__"))
            sides = {"base": Side("base", base_ref, bc, bsrc), "head": Side("head", head_ref, hc, hsrc)}
            for side in sides.values():
                side.python = (venv / "bin" / "python") if venv else venv_for(side.src, cache)
            docs: dict[str, list[dict[str, Any]]] = {"base": [], "head": []}
            runs = []
            for name, scenario in schedule(rounds, list(scenarios)):
                load = os.getloadavg()[0]
                t0 = time.monotonic()
                try:
                    doc = run_one(sides[name], scenario, scenarios[scenario], timeout)
                    docs[name].append(doc)
                    if keep is not None:
                        keep.mkdir(parents=True, exist_ok=True)
                        (keep / f"{len(runs) + 1:02d}-{name}-{scenario}.json").write_text(json.dumps(doc, indent=2))
                    ok, error = True, None
                except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
                    ok, error = False, str(e)
                runs.append({"side": name, "scenario": scenario, "load": load, "ok": ok, "error": error,
                             "seconds": round(time.monotonic() - t0, 1)})
                click.echo(f"gate: {name} {scenario} {'ok' if ok else 'FAILED'} "
                           f"({runs[-1]['seconds']} s, load {load:.2f})", err=True)
    return {"scenario": "gate", "machine": info(), "rounds": rounds,
            "base": {"ref": base_ref, "commit": bc}, "head": {"ref": head_ref, "commit": hc},
            "scenarios": {k: list(v) for k, v in scenarios.items()}, "runs": runs, "threshold": threshold,
            "same_bench": same_bench,
            "figures": figures(rows(docs["base"], docs["head"]), threshold)}


@click.command("gate")
@click.option("--base", "base_ref", default="HEAD^", show_default=True, help="The ref compared against.")
@click.option("--head", "head_ref", default="HEAD", show_default=True,
              help="The ref measured; `.` is the working tree as it is.")
@click.option("--rounds", default=3, show_default=True, help="Runs of each scenario per side.")
@click.option("-n", "--count", default=2000, show_default=True, help="Burst size (over NATS), also of budget.")
@click.option("--rate", default=300.0, show_default=True, help="Steady applies per second.")
@click.option("--seconds", default=10.0, show_default=True, help="Steady duration.")
@click.option("--scenario", "only", multiple=True, type=click.Choice(["burst", "steady", "budget"]),
              help="Run only this scenario (repeatable; default all three).")
@click.option("--threshold", default=0.10, show_default=True,
              help="Fail when a figure's median is worse by more than this fraction.")
@click.option("--venv", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run both sides with this venv's python (their code from PYTHONPATH).")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path),
              default=Path.home() / ".cache" / "bosun" / "gate", show_default=True,
              help="Where venvs built per pyproject.toml are kept.")
@click.option("--timeout", default=600.0, show_default=True, help="Per run.")
@click.option("--same-bench/--own-bench", default=True, show_default=True,
              help="Measure both sides with head's bench/ (one instrument; base needs no `bench budget`), "
                   "or each with its own.")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write every run's whole report here (NN-side-scenario.json): per-component budgets...")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def main(base_ref: str, head_ref: str, rounds: int, count: int, rate: float, seconds: float,
         only: tuple[str, ...], threshold: float, venv: Path | None, cache: Path, timeout: float,
         same_bench: bool, keep: Path | None, as_json: bool) -> None:
    """Burst, steady and budget for HEAD and its parent (or --base/--head), alternately; medians, ratios."""
    scenarios = {"burst": ["-n", str(count), "--via", "nats"],
                 "steady": ["--rate", str(rate), "--seconds", str(seconds)],
                 "budget": ["-n", str(count)]}
    scenarios = {k: v for k, v in scenarios.items() if not only or k in only}
    result = gate(base_ref, head_ref, rounds, scenarios, venv.absolute() if venv else None, cache, timeout,
                  threshold, same_bench, keep)
    click.echo(json.dumps(result, indent=2) if as_json else render(result))
    if any(not r["ok"] for r in result["runs"]):
        raise SystemExit(2)
    if any(f["regressed"] for f in result["figures"]):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
