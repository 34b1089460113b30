"""The quota edge across several real gateway processes sharing one nats-server: exactly what fits is admitted."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core import log as corelog
from core.ports import free_port
from gateway.admission.admit import Intent
from gateway.admission.governance import governed_admission
from tests.conftest import eventually
from tests.integration.test_gateway_support import TOKEN
from tests.integration.test_governance_support import auth, md, write_policy
from tests.integration.test_up_support import BOSUN

GATEWAYS = 3
REQUESTS = 50


@pytest.fixture
def gateways(nats_url: str, tmp_path: Path) -> Iterator[list[str]]:
    token = tmp_path / "admin.token"
    token.write_text(TOKEN + "\n")
    policy = write_policy(tmp_path / "policy.yaml")
    procs, urls = [], []
    for i in range(GATEWAYS):
        port = free_port()
        args = [BOSUN, "gateway", "--nats", nats_url, "--data", str(tmp_path / f"gw{i}"),
                "--db-dir", str(tmp_path / f"gw{i}" / "db"), "--token-file", str(token), "--http-port", str(port)]
        if i == 0:
            args += ["--policy", str(policy)]
        log = open(tmp_path / f"gw{i}.log", "wb")  # noqa: SIM115 - closed with the process
        procs.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ)))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        yield urls
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=20)


async def test_fifty_concurrent_applies_over_three_gateway_processes_admit_exactly_what_fits(
        gateways: list[str], nats_url: str) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        async def healthy() -> bool:
            for url in gateways:
                try:
                    r = await client.get(f"{url}/v1/namespaces/team-a/md", headers=auth("alice"))
                except httpx.HTTPError:
                    return False
                if r.status_code != 200:
                    return False
            return True

        await eventually(healthy, timeout=60)
        # 50 deployments of 1 GPU each against `gpus: 8`, round-robin over the gateways
        responses = await asyncio.gather(*(
            client.put(f"{gateways[i % GATEWAYS]}/v1/namespaces/team-a/md/d{i}", json=md(f"d{i}"),
                       headers=auth("alice")) for i in range(REQUESTS)))
    outcomes = Counter((r.status_code, r.json().get("error", {}).get("code")) for r in responses)
    assert outcomes == {(202, None): 8, (403, "QuotaExceeded"): REQUESTS - 8}, outcomes

    nc = await corelog.connect(nats_url, "check")
    try:
        log = corelog.Log(nc)
        specs, _ = await log.last_per_subject(["bosun.ev.modeldeployment.team-a.*.spec"])
        assert len(specs) == 8
        # A fresh, in-process admission folds the same log: it sees the namespace full and refuses a ninth.
        governed = await governed_admission(log, TOKEN)
        try:
            outcome = await governed.admission.handle(Intent(
                action="apply", kind="modeldeployment", namespace="team-a", name="ninth",
                body=json.dumps(md("ninth")).encode(), content_type="application/json",
                authorization=auth("alice")["Authorization"]))
        finally:
            await governed.close()
        assert outcome.status == 403 and outcome.body.error.code == "QuotaExceeded", outcome  # type: ignore[union-attr]
        specs, _ = await log.last_per_subject(["bosun.ev.modeldeployment.team-a.*.spec"])
        assert len(specs) == 8, "the refusal wrote nothing"
    finally:
        await nc.close()
