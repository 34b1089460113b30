"""Helpers for the NATS identity tests: a governed `bosun up`, clients as principals, components as
their own users, and "was this refused by nats-server?" (no tests here)."""
from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client as NATS

from core import natscreds, natsusers
from tests.conftest import eventually
from tests.integration.test_up_support import Up

TOKENS = {"alice": "alice-token-6b1f0e2c4d", "dave": "dave-token-93c0a7e5b1", "carol": "carol-token-1e4b7d9c02",
          "erin": "erin-token-c5a2f81d37"}


def _principal(name: str) -> dict[str, str]:
    return {"name": name, "tokenSha256": hashlib.sha256(TOKENS[name].encode()).hexdigest()}


POLICY: dict[str, Any] = {
    "principals": [_principal(n) for n in TOKENS],
    "roles": [
        {"name": "deployer-a", "rules": [{"verbs": ["get", "list", "watch", "apply", "delete"],
                                          "kinds": ["ModelDeployment"], "namespaces": ["team-a"]}]},
        {"name": "deployer-b", "rules": [{"verbs": ["get", "list", "watch", "apply", "delete", "exec"],
                                          "kinds": ["ModelDeployment"], "namespaces": ["team-b"]}]},  # sets env
    ],
    # carol: a principal without any rights; erin: team-a's, until the revocation test takes it away
    "bindings": [{"principal": "alice", "role": "deployer-a"}, {"principal": "dave", "role": "deployer-b"},
                 {"principal": "erin", "role": "deployer-a"}],
}


def md(name: str, ns: str, **spec: Any) -> dict[str, Any]:
    return {"kind": "ModelDeployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"model": "m", "replicas": 0, "placement": {"region": "us-west-2", "gpu": "a100"}, **spec}}


class Client:
    """A NATS connection with the async errors nats-server sent it (permission violations land there)."""

    def __init__(self, nc: NATS, errors: list[str]) -> None:
        self.nc = nc
        self.errors = errors

    async def refused(self, subject: str, timeout: float = 5.0) -> bool:
        """Did nats-server refuse something on `subject` (a permissions violation naming it)?"""
        async def named() -> bool:
            return any("violation" in e and subject.lower() in e for e in self.errors)

        try:
            await eventually(named, timeout=timeout)
        except AssertionError:
            return False
        return True


@contextlib.asynccontextmanager
async def connected(url: str, **options: Any) -> AsyncIterator[Client]:
    errors: list[str] = []

    async def on_error(e: Exception) -> None:
        errors.append(str(e).lower())

    options.setdefault("max_reconnect_attempts", 0)
    options.setdefault("connect_timeout", 5)
    nc = await nats.connect(url, error_cb=on_error, **options)
    try:
        yield Client(nc, errors)
    finally:
        with contextlib.suppress(Exception):
            await nc.close()


def as_principal(up: Up, who: str, **options: Any) -> contextlib.AbstractAsyncContextManager[Client]:
    """A client connection as a principal: its token at connect, replies under `_INBOX.<principal>`."""
    token = up.token if who == "admin" else TOKENS[who]
    return connected(up.conn["nats"], token=token, inbox_prefix=natsusers.client_inbox(who), **options)


def as_component(up: Up, key: str, **options: Any) -> contextlib.AbstractAsyncContextManager[Client]:
    """A connection with one component's credentials from `<data>/nats-credentials.json`."""
    creds = natscreds.Credentials.load(up.data / "nats-credentials.json")
    user = natsusers.role(key).user
    return connected(natscreds.with_user(up.conn["nats"], creds.of(key)), inbox_prefix=natsusers.inbox_of(user),
                     **options)


async def no_message(sub: Any, seconds: float = 1.0) -> bool:
    try:
        await sub.next_msg(timeout=seconds)
    except (TimeoutError, nats.errors.TimeoutError):
        return True
    return False


def intent_headers(who: str, up: Up) -> dict[str, str]:
    token = up.token if who == "admin" else TOKENS[who]
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def policy_file(path: Path) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(POLICY))
    return path
