"""`bosun config`: contexts (named gateways and their tokens) in ~/.config/bosun/config.yaml (`cli.contexts`)."""
from __future__ import annotations

from pathlib import Path

import click

from cli.base import Settings, environment, fail, pass_settings, reports_errors
from cli.contexts import Context, chosen, config_path, connection, load, save


@click.group("config")
def config() -> None:
    """Contexts: named gateways and tokens in ~/.config/bosun/config.yaml."""


@config.command("set-context")
@click.argument("name")
@click.option("--server", help="Gateway URL.")
@click.option("--token", help="Bearer token (stored in the file, mode 0600).")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path), help="Read the token from here.")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path),
              help="A plane's data directory: its connection.json gives server and token.")
@click.option("--use", is_flag=True, help="Make it the current context too.")
@reports_errors
def set_context(name: str, server: str | None, token: str | None, token_file: Path | None, data: Path | None,
                use: bool) -> None:
    """Create or change a context (given options replace the context's, others are kept)."""
    path = _path()
    cfg = load(path)
    old = cfg.contexts.get(name, Context(name))
    new = Context(name, server or old.server, token or old.token,
                  str(token_file.resolve()) if token_file else old.token_file,
                  str(data.resolve()) if data else old.data)
    if not (new.server or new.data):
        fail("Invalid", "a context needs --server or --data")
    cfg.contexts[name] = new
    if use or cfg.current is None:
        cfg.current = name
    save(cfg, path)
    click.echo(f"context {name} saved in {path}" + (" (current)" if cfg.current == name else ""))


@config.command("use-context")
@click.argument("name")
@reports_errors
def use_context(name: str) -> None:
    """Make NAME the current context."""
    path = _path()
    cfg = load(path)
    if name not in cfg.contexts:
        fail("NotFound", f"no context {name!r} (see `bosun config get-contexts`)")
    cfg.current = name
    save(cfg, path)
    click.echo(f"switched to context {name}")


@config.command("get-contexts")
@reports_errors
def get_contexts() -> None:
    """Every context; `*` marks the current one."""
    from cli.output import table

    path = _path()
    cfg = load(path)
    rows = [["*" if n == cfg.current else "", n, c.server or f"(from {c.data})",
             "token" if c.token else ("tokenFile" if c.token_file else ("data" if c.data else "-"))]
            for n, c in sorted(cfg.contexts.items())]
    click.echo(table(["CURRENT", "NAME", "SERVER", "AUTH"], rows) if rows else f"no contexts in {path}")


@config.command("current-context")
@pass_settings
@reports_errors
def current_context(settings: Settings) -> None:
    """The context in use here, and the gateway it points to."""
    ctx = chosen(settings)
    server, _ = connection(settings)
    click.echo(f"{ctx.name if ctx else '(none: ' + str(Path(settings.data)) + ')'}  {server}")


@config.command("delete-context")
@click.argument("name")
@reports_errors
def delete_context(name: str) -> None:
    path = _path()
    cfg = load(path)
    if cfg.contexts.pop(name, None) is None:
        fail("NotFound", f"no context {name!r}")
    if cfg.current == name:
        cfg.current = None
    save(cfg, path)
    click.echo(f"deleted context {name}")


def _path() -> Path:
    """The config file of this invocation (XDG_CONFIG_HOME as the `bosun` group read it)."""
    return config_path(environment().config_home)
