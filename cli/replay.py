"""`bosun replay`, `bosun export` and the time-travel options of `history`, `diff` and `get`.

Replays run HERE, with the code installed on this machine (that is the point of `replay --check` as a
CI gate): messages come from the gateway as an incident bundle, or from `--from-file` with no gateway
or NATS at all.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cli.base import (
    Settings,
    environment,
    fail,
    kind_info,
    namespace_option,
    pass_settings,
    registry,
    reports_errors,
)

if TYPE_CHECKING:
    from analysis.replay import Divergence, Recorded, Write
    from bosun.client import Client
    from core.log import StoredMessage
    from core.names import Ref

WIDTH = 120


def parse_ref(text: str, namespace: str) -> Ref:
    """`kind/name` (namespace from -n) or `kind/namespace/name`; the kind by any alias."""
    from core.names import Ref

    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        fail("Invalid", f"expected KIND/NAME or KIND/NAMESPACE/NAME, got {text!r}")
    info = kind_info(parts[0])
    return Ref(info.key, parts[1] if len(parts) == 3 else namespace, parts[-1])


def _source(settings: Settings, refs: list[Ref], everything: bool, from_file: Path | None,
            at: int | None) -> tuple[list[Ref], list[StoredMessage]]:
    """(refs named by the source, its messages) from a bundle file or from the gateway."""
    from core import bundles

    if from_file is not None:
        try:
            head, messages = bundles.load(from_file)
        except (OSError, bundles.BadBundle) as e:
            fail("BadBundle", str(e))
    else:
        with settings.client() as client:
            body = client.bundle([f"{r.kind}/{r.namespace}/{r.name}" for r in refs], everything=everything,
                                 up_to=at)
        head, messages = bundles.from_bytes(body)
    named = [bundles.ref_of(t) for t in head.refs]
    return named, [m for m in messages if at is None or m.seq <= at]


@click.command()
@click.argument("refs", nargs=-1)
@namespace_option
@click.option("--check", is_flag=True, help="Re-run today's decide at every recorded decision and compare.")
@click.option("--all", "everything", is_flag=True, help="Every resource (of the stream or of the bundle).")
@click.option("--from-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Replay an incident bundle (no gateway or NATS needed).")
@click.option("--at", type=int, help="Stop after this stream sequence.")
@click.option("-o", "--output", type=click.Choice(["json"]))
@pass_settings
@reports_errors
def replay(settings: Settings, refs: tuple[str, ...], namespace: str, check: bool, everything: bool,
           from_file: Path | None, at: int | None, output: str | None) -> None:
    """Fold a resource's history with today's evolve (KIND/NAME), or --check today's decide against it.

    --check exits 0 when every recorded decision is reproduced exactly, 1 on any divergence.
    """
    from analysis import replay as rp

    wanted = [parse_ref(r, namespace) for r in refs]
    if not (wanted or everything or from_file):
        fail("Invalid", "replay needs KIND/NAME, --all or --from-file")
    named, messages = _source(settings, wanted, everything and not from_file, from_file, at)
    routed = rp.route((rp.decode(m) for m in messages), registry())
    targets = wanted or (sorted(routed) if everything or not named else named)
    if check:
        _check(targets, routed, output)
        return
    if len(targets) != 1:
        fail("Invalid", "replay without --check shows one resource: name it (KIND/NAME)")
    _show(targets[0], routed.get(targets[0], []), output)


def _show(ref: Ref, routed: list[Recorded], output: str | None) -> None:
    from analysis import replay as rp
    from cli import output as out

    if not routed:
        fail("NotFound", f"no history for {ref}")
    steps = list(rp.steps(ref, routed, registry=registry()))
    if output == "json":
        state = rp.state_at(ref, routed, registry=registry())
        click.echo(out.to_json({"ref": str(ref), "steps": [
            {"seq": s.seq, "subject": s.subject, "type": s.type, "summary": s.summary, "own": s.own,
             "changes": [{"path": p, "from": a, "to": b} for p, a, b in s.changes]} for s in steps],
            "state": _builtins(state)}))
        return
    for s in steps:
        mark = "*" if s.own else " "
        click.echo(f"{s.seq:>8}{mark} {_where(s.subject):<22} {s.type:<30} {s.summary}"[:WIDTH])
        for path, before, after in s.changes:
            click.echo(f"{'':10}{path}: {_short(before)} -> {_short(after)}"[:WIDTH])
    click.echo(f"{len(steps)} messages folded into {ref} (* = its own writes)")


def _check(targets: list[Ref], routed: dict[Ref, list[Recorded]], output: str | None) -> None:
    from actors.watchdog import Watchdog
    from analysis import replay as rp
    from cli import output as out

    env = environment()
    guard = Watchdog(budget=env.step_budget, memory=env.step_memory).call  # the controllers' step budgets
    checked, found, resources, parked = 0, [], 0, []
    for ref in targets:
        if ref not in routed:
            continue
        resources += 1
        n, divs = rp.check(ref, routed[ref], registry(), guard)
        checked += n
        found += divs
        parked += rp.quarantines(ref, routed[ref])
    if output == "json":
        click.echo(out.to_json({"resources": resources, "decisions": checked,
                                "divergences": [_div_json(d) for d in found],
                                "quarantined": [{"ref": str(q.ref), "seq": q.seq, "summary": q.summary}
                                                for q in parked]}))
    else:
        for d in found:
            click.echo(report(d))
        for q in parked:
            click.echo(f"QUARANTINED {q.ref} at seq {q.seq}: {q.summary} (recorded by the runtime; not a divergence)")
        click.echo(f"replay --check: {checked} decisions of {_plural(resources, 'resource')} checked, "
                   f"{_plural(len(found), 'divergence')}, {len(parked)} quarantined")
    sys.exit(1 if found else 0)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def report(d: Divergence) -> str:
    """A readable divergence: resource, seq, and what was recorded vs what today's decide writes."""
    from projections.reducer import rfc3339

    by = f" ({d.controller})" if d.controller else ""
    lines = [f"DIVERGENCE {d.ref}{by} at seq {d.seq} (decided {rfc3339(d.time)} on state through seq {d.hwm})"]
    if d.error:
        lines.append(f"  today's decide raised: {d.error}")
    for label, writes in (("recorded", d.recorded), ("now", d.now)):
        lines.append(f"  {label} ({len(writes)} write{'s' if len(writes) != 1 else ''}):")
        shown = [f"    {_where(w.subject):<22} {w.type:<30} {w.summary}"[:WIDTH] for w in writes]
        lines += shown or ["    (nothing)"]
    lines += _first_difference(d.recorded, d.now)
    return "\n".join(lines)


def _first_difference(recorded: tuple[Write, ...], now: tuple[Write, ...]) -> list[str]:
    import msgspec

    from analysis.replay import changes

    for i in range(max(len(recorded), len(now))):
        a = recorded[i] if i < len(recorded) else None
        b = now[i] if i < len(now) else None
        if a is not None and b is not None and a.compared == b.compared:
            continue
        head = f"  first difference: write #{i + 1}"
        if a is None or b is None:
            return [f"{head}: {'only now' if a is None else 'only recorded'}"]
        if a.subject != b.subject or a.type != b.type:
            return [f"{head}: {_where(a.subject)} {a.type} vs {_where(b.subject)} {b.type}"]
        diffs = changes(msgspec.json.decode(a.body), msgspec.json.decode(b.body))
        return [f"{head} ({a.type}):"] + [f"    {p}: {_short(x)} -> {_short(y)}" for p, x, y in diffs]
    return []


def _div_json(d: Divergence) -> dict[str, Any]:
    import msgspec

    def ws(writes: tuple[Write, ...]) -> list[dict[str, Any]]:
        return [{"subject": w.subject, "type": w.type, "summary": w.summary,
                 "body": msgspec.json.decode(w.body)} for w in writes]

    return {"ref": str(d.ref), "controller": d.controller, "seq": d.seq, "hwm": d.hwm, "time": d.time, "error": d.error,
            "recorded": ws(d.recorded), "now": ws(d.now)}


def _where(subject: str) -> str:
    from core import subjects

    try:
        parsed = subjects.parse(subject)
    except ValueError:
        return subject
    if parsed.slice == subjects.CMD:
        return f"cmd.{parsed.driver}"
    if parsed.slice == subjects.INBOX:
        return f"inbox {parsed.ref.kind}/{parsed.ref.name}"
    return parsed.slice


def _short(value: Any) -> str:
    from cli import output as out

    text = out.scalar(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _builtins(state: Any) -> Any:
    from core import codec

    return codec.state_to_builtins(state)


@click.command()
@click.option("--at", type=int, help="As of this stream sequence (default: now).")
@click.option("--at-time", help="As of this instant (RFC 3339).")
@click.option("-n", "--namespace", help="Only this namespace.")
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@pass_settings
@reports_errors
def export(settings: Settings, at: int | None, at_time: str | None, namespace: str | None,
           output: str) -> None:
    """The environment as applyable manifests: `bosun export --at SEQ > env.yaml`."""
    from cli import output as out
    from cli.kinds import served
    from gateway.http.envtravel import manifest

    docs: list[dict[str, Any]] = []
    with settings.client() as client:
        for entry in served(settings):
            if at is None and at_time is None:
                objs = list(client.list(entry["plural"], namespace=namespace))
            else:
                objs = list(client.list(entry["plural"], namespace=namespace, at=at, at_time=at_time))
            docs += [manifest(o) for o in objs]
    if output == "json":
        click.echo(out.to_json(docs))
    else:
        click.echo("---\n".join(out.to_yaml(d) for d in docs).rstrip())


# ---- options grafted onto existing commands (cli/main.py) ---------------------------------------------


def export_history(client: Client, kind: str, namespace: str, name: str, path: Path) -> None:
    """`history --export FILE`: the resource's incident bundle, written verbatim."""
    from core import bundles

    body = client.bundle([f"{kind_info(kind).key}/{namespace}/{name}"])
    head, messages = bundles.from_bytes(body)
    path.write_bytes(body)
    click.echo(f"wrote {len(messages)} messages through seq {head.last_seq} to {path}", err=True)


def follow_history(client: Client, kind: str, namespace: str, name: str, since: int,
                   types: list[str] | None, render: Any, interval: float = 1.0) -> None:
    """`history --follow`: keep printing new entries after `since` until interrupted."""
    try:
        while True:
            page = client.history(kind, name, namespace=namespace, since=since, types=types)
            if page["items"]:
                render(page["items"])
                since = max(since, max(int(e["seq"]) for e in page["items"]))
            if not page.get("continue"):
                time.sleep(interval)
    except KeyboardInterrupt:
        pass


def diff_points(client: Client, start: int, end: int | None, namespace: str | None) -> None:
    """`diff --from SEQ1 --to SEQ2`: which resources changed, with field diffs of spec and status."""
    from cli import output as out

    result = client.call("GET", "/v1/diff", params={k: v for k, v in {"from": start, "to": end,
                                                                      "namespace": namespace}.items() if v is not None})
    for item in result["items"]:
        click.echo(f"{item['kind'].lower()}/{item['name']} ({item['namespace']}): {item['action']}")
        for change in item.get("diff", []):
            click.echo(f"  {change['path']}: {out.scalar(change.get('from'))} -> "
                       f"{out.scalar(change.get('to'))}")
    click.echo(f"{len(result['items'])} resources changed between seq {result['from']} and {result['to']}",
               err=True)

