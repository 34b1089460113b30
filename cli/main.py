"""`bosun`: the command-line client of the gateway (docs/design.md, "CLI contract").

Heavy modules (httpx, the kind registry, YAML) are imported inside commands so `bosun --help` stays fast.
Component commands (`up`, `controller`, `gateway`, `projector`) come from `cli.components`, `driver ...` from
`cli.drivers`, `replay`/`export` from `cli.replay`, `audit` from `cli.audit`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli import (
    apply,
    audit,
    completion,
    components,
    config,
    cost,
    drivers,
    explain,
    lifecycle,
    logs,
    nodes,
    replay,
    retry,
    wait,
    whatif,
)
from cli import watch as watching
from cli.base import (
    Settings,
    fail,
    kind_info,
    namespace_option,
    pass_settings,
    read_environment,
    reports_errors,
    split_ref,
)
from cli.completion import refs as complete_refs


class _Bosun(click.Group):
    """The `bosun` group: a kind source that cannot be loaded is one line on stderr and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        from core.kinds import KindsError

        try:
            return super().invoke(ctx)
        except KindsError as e:
            click.echo(f"error: {e}", err=True)
            ctx.exit(2)


@click.group(cls=_Bosun)
@click.version_option(package_name="bosun", prog_name="bosun")
@click.option("--server", help="Gateway URL  [default: BOSUN_SERVER, else <data>/connection.json]")
@click.option("--token", help="Bearer token  [default: BOSUN_TOKEN, else the connection's tokenFile]")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path),
              help="Bosun data directory  [default: BOSUN_DATA, else ./.bosun]")
@click.option("--context", "context_name", metavar="NAME",
              help="A context of ~/.config/bosun/config.yaml  [default: BOSUN_CONTEXT; `bosun config get-contexts`]")
@click.pass_context
def main(ctx: click.Context, server: str | None, token: str | None, data: Path | None,
         context_name: str | None) -> None:
    """Bosun: an event-sourced, actor-based control plane."""
    env = read_environment()  # every BOSUN_* variable, once (core/settings.py, docs/configuration.md)
    ctx.obj = Settings.of(env, server, token, data, context_name)


@main.command()
@click.argument("ref", shell_complete=complete_refs)
@click.argument("name", required=False)
@namespace_option
@click.option("-A", "--all-namespaces", is_flag=True)
@click.option("-l", "--selector")
@click.option("--phase")
@click.option("-o", "--output", type=click.Choice(["json", "yaml", "wide", "name"]))
@click.option("--at", type=int, help="As of this stream sequence (one object, or every object of the kind).")
@click.option("--at-time", help="As of this instant (RFC 3339, e.g. 2024-05-01T12:00:00Z).")
@click.option("--limit", type=int, help="One page of at most this many objects.")
@pass_settings
@reports_errors
def get(settings: Settings, ref: str, name: str | None, namespace: str, all_namespaces: bool,
        selector: str | None, phase: str | None, output: str | None, at: int | None, at_time: str | None,
        limit: int | None) -> None:
    """Show one object (KIND/NAME) or a table of them (KIND)."""
    import time

    from cli import output as out

    if ref in ("controllers", "controller"):
        from cli.controllers import show

        with settings.client() as client:
            show(client, output)
        return
    info, name = split_ref(ref, name)
    with settings.client() as client:
        if name:
            items = [client.get(info.plural, name, namespace=namespace, at=at, at_time=at_time)]
            shaped: Any = items[0]
        else:
            every = all_namespaces or info.cluster_scoped  # a Role or Principal lives in no namespace
            items = list(client.list(info.plural, namespace=None if every else namespace, selector=selector,
                                     phase=phase, limit=limit, at=at, at_time=at_time))
            shaped = {"items": items, "continue": None}
    if output in ("json", "yaml"):
        click.echo(out.to_json(shaped) if output == "json" else out.to_yaml(shaped).rstrip())
    elif output == "name":
        click.echo("\n".join(f"{info.key}/{o['metadata']['name']}" for o in items))
    elif not items:
        click.echo(f"No {info.plural} found.", err=True)
    else:
        headers, rows = out.rows_of(info, items, time.time(), namespaces=all_namespaces and not info.cluster_scoped,
                                    wide=output == "wide")
        click.echo(out.table(headers, rows))


@main.command()
@click.argument("ref", shell_complete=complete_refs)
@click.argument("name", required=False)
@namespace_option
@pass_settings
@reports_errors
def describe(settings: Settings, ref: str, name: str | None, namespace: str) -> None:
    """Spec, phase, conditions, status fields and the recent timeline of one object."""
    from cli.describe import gather, render

    info, name = split_ref(ref, name)
    if not name:
        fail("Invalid", "describe needs KIND/NAME")
    with settings.client() as client:
        obj, facts = gather(client, info.plural, namespace, name)  # type: ignore[arg-type]
    click.echo(render(obj, facts))


@main.command()
@click.argument("ref", required=False, shell_complete=complete_refs)
@click.argument("name", required=False)
@namespace_option
@click.option("-f", "--filename", "sources", multiple=True)
@pass_settings
@reports_errors
def delete(settings: Settings, ref: str | None, name: str | None, namespace: str, sources: tuple[str, ...]) -> None:
    """Request deletion of KIND/NAME or of every manifest in -f; objects go once finalizers ran."""
    from bosun.calls import address
    from gateway.manifests import load

    targets: list[tuple[str, str, str]] = []
    for doc in (doc for source in sources for doc in load(source)):
        targets.append(address(doc, namespace))
    if ref:
        info, name = split_ref(ref, name)
        if not name:
            fail("Invalid", "delete needs KIND/NAME or -f FILE")
        targets.append((info.key, namespace, name))  # type: ignore[arg-type]
    if not targets:
        fail("Invalid", "delete needs KIND/NAME or -f FILE")
    with settings.client() as client:
        for kind, ns, obj_name in targets:
            result = client.delete(kind, obj_name, namespace=ns).result
            click.echo(f"{kind_info(kind).key}/{obj_name} {'deleted' if result == 'deleted' else 'deleting'}")


@main.command()
@click.argument("ref", shell_complete=complete_refs)
@click.argument("name", required=False)
@namespace_option
@click.option("-o", "--output", type=click.Choice(["json", "yaml"]))
@click.option("--since", type=int, help="Only events after this stream sequence.")
@click.option("--type", "types", multiple=True, help="Only events of this type (repeatable).")
@click.option("--limit", type=int, help="At most this many events (the newest, unless --since).")
@click.option("--follow", "-w", is_flag=True, help="Keep printing new events as they happen.")
@click.option("--export", "export_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write an incident bundle (events, commands, headers, neighbours' events) to this file.")
@pass_settings
@reports_errors
def history(settings: Settings, ref: str, name: str | None, namespace: str, output: str | None,
            since: int | None, types: tuple[str, ...], limit: int | None, follow: bool,
            export_file: Path | None) -> None:
    """The timeline of one object: every event with seq, time, slice, type, who and summary."""
    from cli import output as out

    info, name = split_ref(ref, name)
    if not name:
        fail("Invalid", "history needs KIND/NAME")
    if export_file is not None:
        from cli.replay import export_history

        with settings.client() as client:
            export_history(client, info.key, namespace, name, export_file)  # type: ignore[arg-type]
        return
    with settings.client() as client:
        page = client.history(info.plural, name, namespace=namespace, since=since,  # type: ignore[arg-type]
                              types=list(types) or None, limit=limit)
    if output:
        click.echo(out.to_json(page) if output == "json" else out.to_yaml(page).rstrip())
    else:
        _history_table(page["items"], header=True)
    if follow:
        from cli.replay import follow_history

        last = max([int(e["seq"]) for e in page["items"]] or [since or 0])
        render = (lambda items: [click.echo(out.to_json(e)) for e in items]) if output else _history_table
        with settings.client() as client:
            follow_history(client, info.plural, namespace, name,  # type: ignore[arg-type]
                           last, list(types) or None, render)


def _history_table(items: list[dict[str, Any]], header: bool = False) -> None:
    from cli import output as out

    rows = [[str(e.get("seq", "")), str(e.get("time", "")), str(e.get("slice", "")), str(e.get("type", "")),
             str(e.get("principal") or e.get("controller") or ""), str(e.get("summary", ""))]
            for e in items]
    table = out.table(["SEQ", "TIME", "SLICE", "TYPE", "BY", "SUMMARY"], rows)
    click.echo(table if header else "\n".join(table.splitlines()[1:]))


@main.group()
def projections() -> None:
    """Read-model maintenance."""


@projections.command("rebuild")
@pass_settings
@reports_errors
def projections_rebuild(settings: Settings) -> None:
    """Rebuild the read model from the whole log, then swap it in."""
    with settings.client() as client:
        summary = client.call("POST", "/v1/projections/rebuild", timeout=300)
    click.echo(" ".join(f"{k}={v}" for k, v in summary.items()))


for _command in (*components.COMMANDS, drivers.driver, drivers.sim_group, replay.replay, replay.export, audit.audit,
                 retry.retry,
                 whatif.plan, whatif.policy, whatif.revert, logs.logs, cost.cost, apply.apply, apply.diff,
                 watching.watch, wait.wait, explain.api_resources, explain.explain, config.config,
                 completion.completion, *lifecycle.COMMANDS, *nodes.COMMANDS):
    main.add_command(_command)


@main.command("bench", add_help_option=False, context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def _bench(args: tuple[str, ...]) -> None:
    """Benchmark scenarios (`python -m bench`; imported only when run; needs `bosun[bench]`)."""
    from cli.tools import require

    require("bench")
    from bench.__main__ import main as bench_main

    bench_main.main(list(args), prog_name="bosun bench")


@main.command("chaos", add_help_option=False, context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def _chaos(args: tuple[str, ...]) -> None:
    """Chaos rounds, linearizable If-Match, soak (`python -m chaos`; imported only when run; `bosun[chaos]`)."""
    from cli.tools import require

    require("chaos")
    from chaos.__main__ import main as chaos_main

    chaos_main.main(list(args), prog_name="bosun chaos")
