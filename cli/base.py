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
    from core.kinds import KindInfo
    from gateway.client import Client

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_NS = "default"


@dataclass(frozen=True)
class Settings:
    server: str | None
    token: str | None
    data: Path
    env: core_settings.Settings = core_settings.DEFAULTS
    """Every variable of the environment, read once when the `bosun` group starts (`environment()`)."""

    def client(self) -> Client:
        from gateway.client import Client, discover

        return Client(discover(self.server, self.token, self.data))


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
        from gateway.client import ClientError
        from gateway.errors import ApiError

        try:
            return fn(*args, **kwargs)
        except (ClientError, ApiError) as e:
            fail(e.code, e.message, [(d.field, d.message) for d in e.details])

    return wrapper  # type: ignore[return-value]


def fail(code: str, message: str, details: Sequence[tuple[str, str]] = ()) -> NoReturn:
    error(code, message, details)
    sys.exit(1)


def error(code: str, message: str, details: Sequence[tuple[str, str]] = ()) -> None:
    click.echo(f"error: {code}: {message}", err=True)
    for field, why in details:
        click.echo(f"  {field}: {why}", err=True)


@functools.cache
def registry() -> Registry:
    """The CLI's registry of kinds (shipped + BOSUN_KINDS), built on first use: `--help` never pays for it."""
    from actors.registry import load

    return load()


def kind_info(name: str) -> KindInfo:
    from gateway.client import ClientError

    info = registry().resolve(name)
    if info is None:
        raise ClientError(0, "UnknownKind", f"unknown kind {name!r}")
    return info


def split_ref(ref: str, name: str | None) -> tuple[KindInfo, str | None]:
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
