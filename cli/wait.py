"""`bosun wait` and the wait of `bosun apply --wait`: a live progress line per resource until every one is
Ready at its generation (or gone); exit 1 on a failure or at the timeout, with what is not ready and why.

On a terminal the lines redraw in place (rich); elsewhere (CI logs, pipes) each change is one plain line.
The rules of "ready" and "failed" are `bosun.readiness`; the watch is the client's `wait_all`.
"""
from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from cli.base import Settings, error, fail, namespace_option, pass_settings, reports_errors, split_ref

if TYPE_CHECKING:
    from bosun.client import Client
    from bosun.readiness import Target, Verdict

DEFAULT_TIMEOUT = 300.0
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def seconds(text: str) -> float:
    """`90`, `30s`, `5m`, `1h30m`, `500ms` as seconds; ValueError otherwise."""
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r} (e.g. 90, 30s, 5m, 1h30m)")
    return sum(float(n) * _UNITS[u] for n, u in parts)


class Duration(click.ParamType):
    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return seconds(str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)


timeout_option = click.option("--timeout", type=Duration(), default=DEFAULT_TIMEOUT, show_default="5m",
                              help="Give up after this long (90, 30s, 5m, 1h).")


class Progress:
    """Draws where each target stands: a rich live table on a terminal, plain changed lines otherwise."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(highlight=False)
        self.started = time.monotonic()
        self.results: list[tuple[Target, Verdict]] = []
        self.printed: dict[str, str] = {}
        self.live: Any = None

    def __enter__(self) -> Progress:
        if self.console.is_terminal:
            from rich.live import Live

            self.live = Live(self, console=self.console, refresh_per_second=4, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def __call__(self, results: list[tuple[Target, Verdict]]) -> None:
        self.results = results
        if self.live is not None:
            return
        from bosun.readiness import line

        for target, verdict in results:
            if verdict.reason == "Watching":  # nothing heard yet
                continue
            text = line(target, verdict)
            if self.printed.get(str(target)) != text:
                self.printed[str(target)] = text
                click.echo(f"{self.elapsed():6.1f}s {_MARKS[verdict.state]} {text}")
        sys.stdout.flush()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _cells(self) -> list[tuple[str, str, str, str, str]]:
        return [(_MARKS[v.state], str(t), v.phase or "-", v.replicas,
                 f"{v.reason}: {v.message}" if v.message else v.reason) for t, v in self.results]

    def __rich__(self) -> Any:
        """One line per target, columns aligned, each cut to the terminal's width (the reason gives way)."""
        from rich.console import Group
        from rich.text import Text

        cells = self._cells()
        widths = [max((len(c[i]) for c in cells), default=0) for i in range(4)]
        lines = []
        for (mark, *rest), (_, verdict) in zip(cells, self.results, strict=True):
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append(mark, style={"ready": "green", "gone": "green", "failed": "red"}.get(verdict.state, "yellow"))
            line.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(rest, [*widths[1:], 0], strict=True)))
            lines.append(line)
        lines.append(Text(f"{self.elapsed():.1f}s", style="dim"))
        return Group(*lines)


_MARKS = {"ready": "✓", "gone": "✓", "failed": "✗", "waiting": "…"}


def run(client: Client, targets: Sequence[Target], timeout: float) -> None:
    """Wait for `targets`, drawing progress; exit 1 with a summary of what is not done and why."""
    from bosun.errors import WaitFailed, WaitTimeout
    from bosun.readiness import summary

    if not targets:
        return
    progress = Progress()
    try:
        with progress:
            progress(client.wait_all(targets, timeout=timeout, progress=progress))
    except WaitTimeout:
        error("Timeout", f"not everything is ready after {timeout:g}s:")
    except WaitFailed:
        error("Failed", "not everything can become ready:")
    else:
        click.echo(f"all {len(targets)} done in {progress.elapsed():.1f}s")
        return
    for text in summary(progress.results):
        click.echo(f"  {text}", err=True)
    sys.exit(1)


def parse_for(value: str) -> str:
    if value in ("delete", "condition=Ready", "Ready"):
        return "delete" if value == "delete" else "Ready"
    raise click.BadParameter("use condition=Ready or delete", param_hint="--for")


@click.command()
@click.argument("refs", nargs=-1, metavar="KIND/NAME...")
@namespace_option
@click.option("-f", "--filename", "sources", multiple=True, help="Every resource of these manifests too.")
@click.option("--for", "until", default="condition=Ready", show_default=True, metavar="condition=Ready|delete",
              callback=lambda _c, _p, v: parse_for(v), help="Ready at its latest generation, or gone.")
@timeout_option
@pass_settings
@reports_errors
def wait(settings: Settings, refs: tuple[str, ...], namespace: str, sources: tuple[str, ...], until: str,
         timeout: float) -> None:
    """Wait until resources are Ready at their generation (or deleted); exit 1 on failure or timeout."""
    from bosun.calls import address
    from bosun.readiness import Target
    from cli.sources import load

    targets: list[Target] = []
    for ref in refs:
        info, name = split_ref(ref, None)
        if not name:
            fail("Invalid", f"{ref}: wait needs KIND/NAME")
        targets.append(Target(info.name, name, namespace, 0, "delete" if until == "delete" else "Ready"))
    docs, problems = load(sources)
    for problem in problems:
        error("Malformed", problem)
    if problems:
        sys.exit(1)
    for doc in docs:
        kind, ns, name = address(doc.body, namespace)
        targets.append(Target(kind, name, ns, 0, "delete" if until == "delete" else "Ready"))
    if not targets:
        fail("Invalid", "wait needs KIND/NAME or -f FILE")
    with settings.client(timeout=30.0) as client:
        run(client, targets, timeout)
