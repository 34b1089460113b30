"""`<data>/nats-credentials.json`: one NATS user per component, the route secret and the callout's key.

Shape (mode 0600, generated once per data dir, kept across restarts):

    {"gateway": {"user", "password"}, "controller": {...}, "projector": {...}, "driver": {...},
     "door": {...}, "system": {...},          # the gateway's intent/connect door and its revocation
     "route": {"user", "password"},           # cluster routes (`bosun up --cluster`)
     "callout": {"issuer", "seed"}}           # the account key that signs clients' permissions

A component is told where the file is (`--nats-credentials` / `BOSUN_NATS_CREDENTIALS`), never a password
in its environment or argv: a replica process inherits its driver's environment. It picks its own entry
(`url_for`). A file holding only some entries (one component's, as on a machine of a multi-host
deployment) works the same.
"""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import nkeys

from core import natsusers

ENV = "BOSUN_NATS_CREDENTIALS"
ROUTE = "route"
CALLOUT = "callout"


@dataclass(frozen=True)
class UserPass:
    user: str
    password: str


@dataclass(frozen=True)
class Credentials:
    users: dict[str, UserPass]
    """Role key (`natsusers.ROLES`) -> its user and password."""
    route: UserPass
    issuer: str
    """Public account nkey (`A...`) nats-server trusts for the callout's answers."""
    issuer_seed: str
    """Its seed (`SA...`): only the gateway reads it."""
    extra: tuple[natsusers.Role, ...] = ()
    """Users beyond `natsusers.ROLES` this server also has (`bosun up --sim-nodes`: the simulated nodes')."""

    def of(self, key: str) -> UserPass:
        return self.users[key]

    @classmethod
    def load_or_create(cls, path: Path, extra: tuple[natsusers.Role, ...] = ()) -> Credentials:
        """The data dir's credentials; entries missing from an older file are generated, stale ones
        (the shared `internal`/`client`/`responder` passwords of before) dropped. `extra`: more users."""
        raw: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        stored: dict[str, Any] = {}
        for r in (*natsusers.ROLES, *extra):
            entry = raw.get(r.key) or {}
            stored[r.key] = {"user": r.user, "password": entry.get("password") or _fresh()}
        route = raw.get(ROUTE) or {}
        stored[ROUTE] = {"user": ROUTE, "password": route.get("password") or _fresh()}
        callout = raw.get(CALLOUT) or {}
        if not callout.get("seed"):
            callout = new_issuer()
        stored[CALLOUT] = {"issuer": callout["issuer"], "seed": callout["seed"]}
        if raw != stored:
            write_private(path, stored)
        return replace(cls.parse(stored), extra=extra)

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Credentials:
        users = {k: UserPass(v["user"], v["password"]) for k, v in raw.items()
                 if k not in (ROUTE, CALLOUT) and isinstance(v, dict) and "user" in v}
        route = raw.get(ROUTE) or {"user": "", "password": ""}
        callout = raw.get(CALLOUT) or {"issuer": "", "seed": ""}
        return cls(users, UserPass(route["user"], route["password"]), callout["issuer"], callout["seed"])

    @classmethod
    def load(cls, path: Path) -> Credentials:
        return cls.parse(json.loads(path.read_text()))


def new_issuer() -> dict[str, str]:
    """A fresh account key pair for the callout (nkeys has no generator: 32 random bytes are the seed)."""
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_ACCOUNT)
    kp = nkeys.from_seed(bytearray(seed))
    return {"issuer": kp.public_key.decode(), "seed": seed.decode()}


def write_private(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def _fresh() -> str:
    return secrets.token_urlsafe(24)


def with_user(url: str, creds: UserPass) -> str:
    """Every URL of a comma-separated seed list with `user:password@` (replacing any there)."""
    out = []
    for u in url.split(","):
        scheme, sep, rest = u.strip().partition("://")
        if not sep:
            scheme, sep, rest = "nats", "://", scheme
        host = rest.rpartition("@")[2]
        out.append(f"{scheme}{sep}{quote(creds.user, safe='')}:{quote(creds.password, safe='')}@{host}")
    return ",".join(out)


def url_for(url: str, key: str, path: Path | str | None) -> str:
    """`url` with the credentials of role `key` from the file at `path` (None or missing entry: as is,
    for a NATS without Bosun's users, or a URL that already carries its user)."""
    if not path:
        return url
    creds = Credentials.load(Path(path))
    entry = creds.users.get(key)
    return with_user(url, entry) if entry is not None else url


def user_of(url: str) -> str:
    """The user name in the first URL of a seed list ("" for none)."""
    userinfo = url.split(",")[0].partition("://")[2].rpartition("@")[0]
    return unquote(userinfo.split(":", 1)[0]) if userinfo else ""


def userinfo(url: str) -> UserPass | None:
    """The user and password in the first URL of a seed list (None when it carries no password)."""
    first = url.split(",")[0].strip()
    info = (first.partition("://")[2] or first).rpartition("@")[0]
    user, colon, password = info.partition(":")
    return UserPass(unquote(user), unquote(password)) if colon else None


def has_password(url: str) -> bool:
    """Whether any URL of a seed list carries a password (`user:secret@host`)."""
    return any(userinfo(u) is not None for u in url.split(","))


def without_userinfo(url: str) -> str:
    """nats://user:secret@host:4222 -> nats://host:4222 (each URL of a comma list)."""
    out = []
    for u in url.split(","):
        scheme, sep, rest = u.strip().partition("://")
        out.append(f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else scheme.rpartition("@")[2])
    return ",".join(out)


def without_password(url: str) -> str:
    """nats://user:secret@host:4222 -> nats://user@host:4222 (each URL of a comma list)."""
    out = []
    for u in url.split(","):
        scheme, sep, rest = u.partition("://")
        userinfo, at, host = rest.rpartition("@")
        out.append(f"{scheme}{sep}{userinfo.split(':', 1)[0]}{at}{host}" if at else u)
    return ",".join(out)


def env_name(key: str) -> str:
    """compose.yaml's variable for role `key`'s password: `BOSUN_NATS_<KEY>_PASSWORD`."""
    return f"BOSUN_NATS_{key.upper()}_PASSWORD"


def compose_env(creds: Credentials) -> dict[str, str]:
    """The `.env` compose.yaml reads: every password, the route's, and the callout's key pair."""
    env = {env_name(k): v.password for k, v in creds.users.items()}
    env[env_name(ROUTE)] = creds.route.password
    env["BOSUN_NATS_CALLOUT_ISSUER"] = creds.issuer
    env["BOSUN_NATS_CALLOUT_SEED"] = creds.issuer_seed
    return env


def fresh() -> Credentials:
    """New credentials (hex passwords: they go into route URLs unquoted)."""
    users = {r.key: UserPass(r.user, secrets.token_hex(24)) for r in natsusers.ROLES}
    callout = new_issuer()
    return Credentials(users, UserPass(ROUTE, secrets.token_hex(24)), callout["issuer"], callout["seed"])
