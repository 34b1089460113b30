"""Where the CLI connects: `--server`/`--token`, else a named context, else the plane beside you, else the
current context of `$XDG_CONFIG_HOME/bosun/config.yaml` (`~/.config/bosun/config.yaml`). `--context NAME`
(or BOSUN_CONTEXT) picks one by name.

A context names a gateway and its token (or a data directory whose `connection.json` says both), so the
CLI works away from `.bosun` and switches between planes with `bosun config use-context NAME`. A plane
running in the current directory (`./.bosun/connection.json`, or `--data DIR`) still wins over the
current context: the plane you just started is the one you mean, never a remote one by accident.
The file holds tokens, so it is written readable by its owner only.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from core.settings import Settings


class Chooses(Protocol):
    """What resolution needs of the CLI's settings (`cli.base.Settings`)."""

    server: str | None
    token: str | None
    data: Path
    context: str | None
    """`--context`, else BOSUN_CONTEXT."""
    env: Settings
    """The environment's settings (`core.settings`): where the config file lives."""


class ConfigError(Exception):
    """The config file cannot be read, or names no such context: `bosun` prints it and exits 1."""


@dataclass(frozen=True)
class Context:
    name: str
    server: str | None = None
    token: str | None = None
    token_file: str | None = None
    data: str | None = None
    """A data directory: its connection.json gives the server and the token file."""


@dataclass
class Config:
    current: str | None = None
    contexts: dict[str, Context] = field(default_factory=dict)


def config_path(config_home: str | None) -> Path:
    """`<config_home>/bosun/config.yaml`: `config_home` is XDG_CONFIG_HOME (`core.settings`), else ~/.config."""
    return Path(config_home or Path.home() / ".config") / "bosun" / "config.yaml"


def load(path: Path) -> Config:
    import yaml

    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        return Config()
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: {' '.join(str(e).split())}") from e
    contexts = {}
    for entry in raw.get("contexts") or ():
        known = {k: entry.get(_key(k)) for k in ("server", "token", "token_file", "data")}
        contexts[str(entry["name"])] = Context(str(entry["name"]), **known)
    return Config(raw.get("current-context"), contexts)


def save(cfg: Config, path: Path) -> Path:
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    entries = [{_key(k): v for k, v in asdict(c).items() if v is not None} for c in cfg.contexts.values()]
    text = yaml.safe_dump({"current-context": cfg.current, "contexts": entries}, sort_keys=False)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def _key(attr: str) -> str:
    return {"token_file": "tokenFile"}.get(attr, attr)


def connection(settings: Chooses) -> tuple[str, str | None]:
    """(server, token) for this invocation (see the module doc for the order)."""
    server, token = settings.server, settings.token
    if server and token:
        return server, token
    ctx = chosen(settings)
    found = _resolve(ctx) if ctx is not None else _from_data(Path(settings.data))
    server = server or found[0]
    if not server:
        from bosun.errors import Unreachable

        raise Unreachable(0, "NoServer", f"no gateway: pass --server, `bosun config use-context NAME`, or run "
                                         f"`bosun up` (no {Path(settings.data) / 'connection.json'})")
    return server, token or found[1]


def chosen(settings: Chooses) -> Context | None:
    """The context this invocation uses: `--context`, else none beside a running plane, else the current."""
    name, path = settings.context, config_path(settings.env.config_home)
    cfg = load(path)
    if name:
        if name not in cfg.contexts:
            raise ConfigError(f"no context {name!r} in {path}")
        return cfg.contexts[name]
    if (Path(settings.data) / "connection.json").exists():
        return None
    return cfg.contexts.get(cfg.current) if cfg.current else None


def _resolve(ctx: Context) -> tuple[str | None, str | None]:
    server, token = _from_data(Path(ctx.data)) if ctx.data else (None, None)
    if ctx.token_file:
        token = _read(Path(ctx.token_file))
    return ctx.server or server, ctx.token or token


def _from_data(data: Path) -> tuple[str | None, str | None]:
    try:
        info: dict[str, Any] = json.loads((data / "connection.json").read_text())
    except (OSError, ValueError):
        return None, None
    token_file = info.get("tokenFile")
    return info.get("http"), _read(Path(token_file)) if token_file else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
