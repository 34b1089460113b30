"""Helpers for the governance tests: a gateway with RBAC, token principals and a policy file (no tests here)."""
from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import yaml

from core import log as corelog
from gateway.admission.governance import Governed, governed_admission
from gateway.http.context import Gateway
from tests.integration.test_gateway_support import TOKEN, asgi_client, log_and_reads

TOKENS = {"admin": TOKEN, "alice": "alice-token-5f1c9e0b7a", "bob": "bob-token-0d2e7c4a91",
          "carol": "carol-token-b83f2a61ce"}
POLICY: dict[str, Any] = {
    "principals": [{"name": n, "tokenSha256": hashlib.sha256(TOKENS[n].encode()).hexdigest()}
                   for n in ("alice", "bob", "carol")],
    "roles": [
        {"name": "deployer", "rules": [{"verbs": ["get", "list", "watch", "apply", "delete"],
                                        "kinds": ["ModelDeployment"], "namespaces": ["team-a"]}]},
        {"name": "viewer", "rules": [{"verbs": ["get", "list", "watch"], "kinds": ["*"], "namespaces": ["*"]}]},
    ],
    "bindings": [{"principal": "alice", "role": "deployer"}, {"principal": "bob", "role": "viewer"}],
    "quotas": [{"namespace": "team-a", "limits": {"gpus": 8, "replicas": 10}}],
}


def auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"} if who in TOKENS else {}


def write_policy(path: Path, policy: dict[str, Any] = POLICY) -> Path:
    path.write_text(yaml.safe_dump(policy))
    return path


@dataclass
class GovEnv:
    gw: Gateway
    governed: Governed
    client: httpx.AsyncClient
    log: corelog.Log
    db_dir: Path
    nats_url: str

    async def intent(self, nc: Any, action: str, kind: str, ns: str, name: str, who: str,
                     body: Any = None) -> tuple[int, dict[str, Any]]:
        headers = {**auth(who), "Content-Type": "application/json"}
        if action == "delete":
            headers["Bosun-Action"] = "delete"
        reply = await nc.request(f"bosun.intent.{kind}.{ns}.{name}", msgspec.json.encode(body or {}),
                                 headers=headers, timeout=10)
        return int(reply.headers.get("Bosun-Status", "0")), msgspec.json.decode(reply.data)


@contextlib.asynccontextmanager
async def governed_env(nats_url: str, tmp_path: Path, policy: dict[str, Any] = POLICY,
                       projector: bool = True) -> AsyncIterator[GovEnv]:
    from gateway.intents.responder import Responder

    async with log_and_reads(nats_url, tmp_path, projector=projector) as (nc, log, reads, db_dir):
        governed = await governed_admission(log, TOKEN, write_policy(tmp_path / "policy.yaml", policy))
        gw = Gateway(nc, log, governed.admission, reads)
        responder = Responder(nc, governed.admission)
        await responder.start()
        try:
            async with asgi_client(gw) as client:
                yield GovEnv(gw, governed, client, log, db_dir, nats_url)
        finally:
            await responder.stop()
            await governed.close()


def md(name: str, ns: str = "team-a", replicas: int = 1, gpus: int = 1, **spec: Any) -> dict[str, Any]:
    return {"kind": "ModelDeployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"model": "m", "replicas": replicas, "gpusPerReplica": gpus,
                     "placement": {"region": "us-west-2", "gpu": "a100"}, **spec}}


def pool(name: str, ns: str) -> dict[str, Any]:
    return {"kind": "GpuPool", "metadata": {"name": name, "namespace": ns},
            "spec": {"region": "us-west-2", "gpu": "a100", "capacity": 8, "namespaces": ["*"]}}
