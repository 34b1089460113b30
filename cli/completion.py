"""Shell completion of commands, kinds and names (docs/cli.md): `eval "$(bosun completion bash)"`.

Commands and options come from click; kinds (`bosun get <TAB>`) from the server's `/v1/kinds`, names
(`bosun describe md/<TAB>`) from a list of that kind in `-n`'s namespace. Completion must never print
an error into the user's prompt, so any failure completes nothing.
"""
from __future__ import annotations

from typing import Any

import click
from click.shell_completion import CompletionItem, get_completion_class

from cli.base import DEFAULT_NS, Settings

SHELLS = ("bash", "zsh", "fish")
TIMEOUT = 2.0


def _settings(ctx: click.Context) -> Settings:
    """The connection the command line so far names (completion parses it without running the group)."""
    from cli.base import read_environment

    root = ctx.find_root().params
    return Settings.of(read_environment(), root.get("server"), root.get("token"), root.get("data"),
                       root.get("context_name"))


def _kinds(ctx: click.Context) -> list[dict[str, Any]]:
    with _settings(ctx).client(timeout=TIMEOUT) as client:
        return client.kinds()


def kinds(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Kind names (plural, singular, short) that start with what is typed."""
    try:
        names = sorted({n for e in _kinds(ctx) for n in (e["plural"], e["singular"], *e["shortNames"])})
    except Exception:  # noqa: BLE001 - no server, no token: nothing to offer, and nothing to say
        return []
    return [CompletionItem(n) for n in names if n.startswith(incomplete.lower())]


def refs(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """`KIND` first, then (once `KIND/` is typed) `KIND/NAME` with the names of that kind in the namespace
    given before it (`-n NS`, or `-A`)."""
    if "/" not in incomplete:
        return kinds(ctx, param, incomplete)
    kind, _, prefix = incomplete.partition("/")
    try:
        namespace = None if ctx.params.get("all_namespaces") else ctx.params.get("namespace") or DEFAULT_NS
        with _settings(ctx).client(timeout=TIMEOUT) as client:
            names = [o["metadata"]["name"] for o in client.list(kind, namespace=namespace, limit=500)]
    except Exception:  # noqa: BLE001 - see `kinds`
        return []
    return [CompletionItem(f"{kind}/{n}") for n in sorted(names) if n.startswith(prefix)]


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script: `eval "$(bosun completion bash)"` (zsh, fish alike)."""
    root = click.get_current_context().find_root().command
    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(root, {}, "bosun", "_BOSUN_COMPLETE").source())
