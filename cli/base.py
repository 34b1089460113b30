"""What every `bosun` command shares: settings (server, token, data dir, the environment's `core.settings`),
error reporting, kind lookup.

Kept apart from `cli.main` so command modules (`cli.replay`, `cli.audit`, ...) import it without importing
the group that imports them.
"""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from core import settings as core_settings

if TYPE_CHECKING:
    from actors.controller import Registry
    from bosun.client import Client
    from cli.kinds import ApiKind

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_NS = "default"


@dataclass(frozen=True)
class Settings:
    server: str | None
    token: str | None
    data: Path
    env: core_settings.Settings = core_settings.DEFAULTS
    """Every variable of the environment, read once when the `bosun` group starts (`environment()`)."""
    context: str | None = None
    """`--context NAME`, else BOSUN_CONTEXT (`cli.contexts`)."""

    @classmethod
    def of(cls, env: core_settings.Settings, server: str | None = None, token: str | None = None,
           data: Path | str | None = None, context: str | None = None) -> Settings:
        """This invocation's settings: the flags given, else the environment's variables."""
        return cls(server or env.server, token or env.token, Path(data or env.data), env, context or env.context)

    def client(self, timeout: float = 30.0) -> Client:
        from bosun.client import Client
        from cli.contexts import connection

        server, token = connection(self)
        return Client(server, token, timeout=timeout)


def read_environment() -> core_settings.Settings:
    """`core.settings.from_env()`, a bad value reported as a usage error instead of a traceback."""
    try:
        return core_settings.from_env()
    except core_settings.SettingsError as e:
        raise click.UsageError(str(e)) from e


def environment() -> core_settings.Settings:
    """The settings the `bosun` group read at this command's entry (else, outside the group, read now)."""
    ctx = click.get_current_context(silent=True)
    found = ctx.find_object(Settings) if ctx is not None else None
    return found.env if found is not None else read_environment()


def reports_errors(fn: F) -> F:
    """Print `error: <code>: <message>` (+ details) on stderr and exit 1 instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from bosun.errors import BosunError
        from cli.contexts import ConfigError
        from gateway.errors import ApiError

        try:
            return fn(*args, **kwargs)
        except (BosunError, ApiError) as e:
            fail(e.code, e.message, [(d.field, d.message) for d in e.details if d.message != e.message])
        except ConfigError as e:
            fail("BadConfig", str(e))

    return wrapper  # type: ignore[return-value]


def fail(code: str, message: str, details: Sequence[tuple[str, str]] = ()) -> NoReturn:
    error(code, message, details)
    sys.exit(1)


def error(code: str, message: str, details: Sequence[tuple[str, str]] = ()) -> None:
    click.echo(f"error: {code}: {message}", err=True)
    for field, why in details:
        click.echo(f"  {field}: {why}", err=True)


def registry() -> Registry:
    """The CLI's own registry of kinds (shipped + BOSUN_KINDS), for what runs actor code here (`replay`)."""
    from cli.kinds import registry as own

    return own()


def kind_info(name: str) -> ApiKind:
    """A kind by any of its names, as the server serves it (`cli.kinds`)."""
    from cli.kinds import resolve

    ctx = click.get_current_context(silent=True)
    settings = ctx.find_object(Settings) if ctx is not None else None
    return resolve(settings or Settings.of(environment()), name)


def split_ref(ref: str, name: str | None) -> tuple[ApiKind, str | None]:
    """`KIND/NAME`, or `KIND` plus an optional separate NAME argument."""
    kind, _, inline = ref.partition("/")
    return kind_info(kind), inline or name


def duration(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback: the option's value must be a duration (`core.durations`)."""
    from core import durations

    if value:
        try:
            durations.parse(value)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint=f"--{param.name}") from e
    return value


pass_settings = click.make_pass_decorator(Settings)
namespace_option = click.option("-n", "--namespace", default=DEFAULT_NS, show_default=True)
