"""Issue #28 as a platform engineer hits it: the `bosun` CLI in a subprocess against one real `bosun up`.

Each test works in its own namespaces on the shared plane. The plane runs a kind (the Notebook example,
BOSUN_KINDS) the CLI's own environment does not have: the CLI must discover it from the server.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_up_support import BOSUN, Up, http_get, wait_for

EXAMPLES = Path(__file__).parents[2] / "examples"
POOL = ("kind: GpuPool\nmetadata: {name: %s, namespace: %s}\n"
        "spec: {region: %s, gpu: a100, capacity: %d, namespaces: ['*']}\n")


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    with pytest.MonkeyPatch.context() as mp:  # `bosun up` only: the CLI's `run` has neither
        mp.setenv("BOSUN_KINDS", "examples.kinds.notebook")
        mp.setenv("PYTHONPATH", str(EXAMPLES.parent))
        running = Up(tmp_path_factory.mktemp("people") / "data").start()
    pool = write(running.data.parent / "pool.yaml", POOL % ("people", "infra", "us-west-2", 64))
    assert run(running, "apply", "-f", str(pool)).code == 0
    yield running
    running.stop()


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def run(up: Up | None, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        data: bool = True, stdin: str | None = None, timeout: float = 90) -> Result:
    """`bosun [--data <plane>] ARGS` in a subprocess, with no BOSUN_* variable of ours."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BOSUN_")} | (env or {})
    head = ["--data", str(up.data)] if up is not None and data else []
    p = subprocess.run([BOSUN, *head, *args], capture_output=True, text=True, cwd=cwd, env=clean, input=stdin,
                       timeout=timeout)
    return Result(p.returncode, p.stdout, p.stderr)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def deployment(name: str, ns: str, replicas: int = 1, region: str = "us-west-2", labels: str = "{}",
               **extra: Any) -> str:
    spec = {"model": "m", "replicas": replicas, "placement": {"region": region, "gpu": "a100"}, **extra}
    return (f"kind: ModelDeployment\nmetadata: {{name: {name}, namespace: {ns}, labels: {labels}}}\n"
            f"spec: {json.dumps(spec)}\n")


def exists(up: Up, kind: str, ns: str, name: str) -> bool:
    return http_get(f"{up.url}/v1/namespaces/{ns}/{kind}/{name}", up.token)[0] == 200


# -- apply --wait, wait, progress deadline, plan ----------------------------------------------------------------


def test_apply_wait_follows_everything_until_ready_and_exits_0(up: Up, tmp_path: Path) -> None:
    files = tmp_path / "set"
    write(files / "00-pool.yaml", POOL % ("wait-pool", "infra", "wait-region", 8))
    write(files / "10-md.yaml", deployment("web", "wait-a", 3, "wait-region"))
    r = run(up, "apply", "-f", str(files), "--wait", "--timeout", "60s")
    assert r.code == 0, r
    assert "gpupool/wait-pool created" in r.out and "modeldeployment/web created" in r.out
    assert "✓ modeldeployment/web (wait-a): Ready 3/3" in r.out  # plain progress lines: stdout is no TTY
    assert r.out.rstrip().splitlines()[-1].startswith("all 2 done in ")
    r = run(up, "wait", "md/web", "-n", "wait-a", "--for", "condition=Ready", "--timeout", "10")
    assert r.code == 0, r


def test_a_stuck_rollout_fails_at_its_progress_deadline_with_the_reason(up: Up, tmp_path: Path) -> None:
    file = write(tmp_path / "stuck.yaml", deployment("stuck", "wait-b", 4, "nowhere", progressDeadlineSeconds=1))
    started = time.monotonic()
    r = run(up, "apply", "-f", str(file), "--wait", "--timeout", "60")
    assert r.code == 1, r
    assert time.monotonic() - started < 30  # the deadline ends it, not the timeout
    assert "failed: modeldeployment/stuck (wait-b): Pending 0/4 ProgressDeadlineExceeded" in r.err, r.err
    obj = json.loads(run(up, "get", "md/stuck", "-n", "wait-b", "-o", "json").out)
    progressing = next(c for c in obj["status"]["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")


def test_wait_times_out_with_what_is_not_ready_and_why(up: Up, tmp_path: Path) -> None:
    file = write(tmp_path / "slow.yaml", deployment("slow", "wait-c", 2, "nowhere"))
    assert run(up, "apply", "-f", str(file)).code == 0
    r = run(up, "wait", "md/slow", "-n", "wait-c", "--timeout", "2s")
    assert r.code == 1
    assert "error: Timeout:" in r.err
    assert "not ready: modeldeployment/slow (wait-c): Pending 0/2 Unschedulable: no ready GpuPool" in r.err
    r = run(up, "delete", "md/slow", "-n", "wait-c")
    assert r.code == 0, r
    r = run(up, "wait", "md/slow", "-n", "wait-c", "--for", "delete", "--timeout", "30")
    assert r.code == 0 and "gone" in r.out, r


def test_plan_exits_non_zero_when_it_predicts_a_failure(up: Up, tmp_path: Path) -> None:
    write(tmp_path / "pool.yaml", POOL % ("plan-pool", "infra", "plan-region", 2))
    assert run(up, "apply", "-f", str(tmp_path / "pool.yaml"), "--wait").code == 0
    fits = write(tmp_path / "fits.yaml", deployment("fits", "plan-a", 2, "plan-region"))
    assert run(up, "plan", "-f", str(fits)).code == 0
    too_big = write(tmp_path / "big.yaml", deployment("big", "plan-a", 8, "plan-region"))
    r = run(up, "plan", "-f", str(too_big))
    assert r.code == 1
    assert "predicted failure: modeldeployment/plan-a/big: Progressing Unschedulable: insufficient capacity" in r.err


# -- the set: dry-run, errors, prune, If-Match ------------------------------------------------------------------


def test_a_set_with_one_invalid_document_writes_nothing_and_says_where(up: Up, tmp_path: Path) -> None:
    files = tmp_path / "set"
    write(files / "10-good.yaml", deployment("good", "set-a"))
    typo = deployment("good2", "set-a") + "---\n" + deployment("typo", "set-a").replace("placement", "placment")
    write(files / "20-typo.yaml", typo)
    r = run(up, "apply", "-f", str(files))
    assert r.code == 1
    assert (f"error: Invalid: {files / '20-typo.yaml'}, document 2 (modeldeployment/typo): "
            "$.spec.placment: unknown field (did you mean placement?)") in r.err, r.err
    assert "nothing was applied" in r.err and not r.out
    assert not exists(up, "modeldeployment", "set-a", "good") and not exists(up, "modeldeployment", "set-a", "good2")


def test_yaml_errors_name_the_file_and_line_once(up: Up, tmp_path: Path) -> None:
    files = tmp_path / "set"
    write(files / "10-good.yaml", deployment("fine", "set-b"))
    write(files / "20-bad.yaml", "kind: GpuPool\nmetadata:\n  name: a\n   bad: x\n")
    r = run(up, "apply", "-f", str(files))
    assert r.code == 1 and not r.out
    assert r.err.strip() == (f"error: Malformed: {files / '20-bad.yaml'}:4:7: malformed YAML: "
                             "mapping values are not allowed in this context"), r.err
    assert not exists(up, "modeldeployment", "set-b", "fine")


def test_prune_deletes_what_the_set_no_longer_has_and_diff_shows_it(up: Up, tmp_path: Path) -> None:
    first, second = tmp_path / "v1", tmp_path / "v2"
    for name in ("one", "two"):
        write(first / f"{name}.yaml", deployment(name, "prune-a", labels="{app: shop}"))
    write(first / "other.yaml", deployment("other", "prune-a", labels="{app: blog}"))
    assert run(up, "apply", "-f", str(first)).code == 0
    write(second / "one.yaml", deployment("one", "prune-a", labels="{app: shop}"))
    r = run(up, "diff", "-f", str(second), "--prune", "-l", "app=shop")
    assert r.code == 1 and "modeldeployment/two (prune-a): delete" in r.out, r
    assert "other" not in r.out
    r = run(up, "apply", "-f", str(second), "--prune", "-l", "app=shop", "--wait", "--timeout", "60")
    assert r.code == 0, r
    assert "modeldeployment/two (prune-a) pruned" in r.out
    assert not exists(up, "modeldeployment", "prune-a", "two") and exists(up, "modeldeployment", "prune-a", "other")
    assert run(up, "diff", "-f", str(second), "--prune", "-l", "app=shop").code == 0
    assert run(up, "apply", "-f", str(second), "--prune").code == 1  # never without a selector


def test_resource_version_in_a_file_is_an_if_match(up: Up, tmp_path: Path) -> None:
    assert run(up, "apply", "-f", str(write(tmp_path / "a.yaml", deployment("cas", "cas-a")))).code == 0
    # accepted is not yet readable: `get` reads the read model, a moment behind the log
    exported = yaml.safe_load(wait_for(lambda: run(up, "get", "md/cas", "-n", "cas-a", "-o", "yaml").out, 30,
                                       "the applied deployment readable"))
    stale = tmp_path / "stale.yaml"
    for replicas in (2, 3):  # two edits of the same exported version
        exported["spec"]["replicas"] = replicas
        stale.write_text(yaml.safe_dump(exported))
        r = run(up, "apply", "-f", str(stale))
        if replicas == 2:
            assert (r.code, r.out.strip()) == (0, "modeldeployment/cas configured"), r
    assert r.code == 1 and "error: Conflict:" in r.err and "resourceVersion is" in r.err, r
    assert run(up, "apply", "-f", str(stale), "--force").out.strip() == "modeldeployment/cas configured"
    version = json.loads(run(up, "get", "md/cas", "-n", "cas-a", "-o", "json").out)["metadata"]["resourceVersion"]
    exported["spec"]["replicas"] = 1
    stale.write_text(yaml.safe_dump(exported))
    assert run(up, "apply", "-f", str(stale), "--if-match", "1").code == 1
    assert run(up, "apply", "-f", str(stale), "--if-match", str(version)).code == 0


# -- watch, history -------------------------------------------------------------------------------------------


def test_watch_json_is_one_object_per_line_and_ends_at_its_timeout(up: Up, tmp_path: Path) -> None:
    assert run(up, "apply", "-f", str(write(tmp_path / "w.yaml", deployment("seen", "watch-a", 2)))).code == 0
    started = time.monotonic()
    r = run(up, "watch", "md", "-n", "watch-a", "-o", "json", "--timeout", "2s")
    assert r.code == 0 and time.monotonic() - started < 20
    events = [json.loads(line) for line in r.out.splitlines()]
    assert events and {e["type"] for e in events} <= {"ADDED", "MODIFIED", "DELETED"}
    assert events[0]["object"]["metadata"]["name"] == "seen"


def test_history_of_a_resource_that_never_existed_is_a_404(up: Up) -> None:
    code, body = http_get(f"{up.url}/v1/namespaces/team-a/modeldeployments/nonexistent/history", up.token)
    assert code == 404 and body["error"]["code"] == "NotFound"
    r = run(up, "history", "md/nonexistent", "-n", "team-a")
    assert r.code == 1 and "error: NotFound:" in r.err and not r.out


# -- kinds: discovery, api-resources, explain, OpenAPI ------------------------------------------------------------


def test_a_kind_loaded_only_into_the_plane_works_from_any_shell(up: Up, tmp_path: Path) -> None:
    r = run(up, "api-resources")
    assert r.code == 0 and [line.split()[0] for line in r.out.splitlines()[1:]].count("notebooks") == 1, r
    r = run(up, "get", "notebooks", "-A")
    assert r.code == 0 and "UnknownKind" not in r.err, r
    r = run(up, "explain", "notebook.spec")
    assert r.code == 0 and "image  string -required-" in r.out, r


def test_explain_reads_the_schema_down_to_a_field(up: Up) -> None:
    r = run(up, "explain", "md.spec.autoscaling")
    assert r.code == 0, r
    assert "FIELD:    spec.autoscaling  <Autoscaling>" in r.out
    assert "scaleDownStabilizationSeconds  number" in r.out and "Default 300" in r.out
    r = run(up, "explain", "md.spec.placment")
    assert r.code == 1 and "did you mean placement?" in r.err


def test_openapi_carries_each_kinds_spec_schema(up: Up) -> None:
    code, doc = http_get(up.url + "/openapi.json", up.token)
    assert code == 200
    schemas = doc["components"]["schemas"]
    spec = schemas["ModelDeploymentSpec"]
    assert spec["properties"]["placement"] == {"$ref": "#/components/schemas/Placement"}
    assert spec["additionalProperties"] is False and "model" in spec["required"]
    assert schemas["ModelDeployment"]["properties"]["status"] == {"$ref": "#/components/schemas/ObjectStatus"}
    body = doc["paths"]["/v1/namespaces/{ns}/{kind}/{name}"]["put"]["requestBody"]["content"]["application/json"]
    assert {"$ref": "#/components/schemas/ModelDeploymentManifest"} in body["schema"]["oneOf"]


def test_version_contexts_and_completion_work_away_from_dot_bosun(up: Up, tmp_path: Path) -> None:
    assert run(None, "--version").out.startswith("bosun, version ")
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    assert run(None, "get", "pools", "-A", cwd=away, env=env).code == 1  # no plane here, no context yet
    r = run(None, "config", "set-context", "dev", "--server", up.url, "--token-file",
            str(up.data / "admin.token"), cwd=away, env=env)
    assert r.code == 0, r
    assert oct((tmp_path / "config" / "bosun" / "config.yaml").stat().st_mode & 0o777) == "0o600"
    r = run(None, "get", "pools", "-A", cwd=away, env=env)
    assert r.code == 0 and "NAMESPACE" in r.out, r
    assert "* " in run(None, "config", "get-contexts", cwd=away, env=env).out
    completion = {**env, "_BOSUN_COMPLETE": "bash_complete", "COMP_WORDS": "bosun describe mod", "COMP_CWORD": "2"}
    assert "plain,modeldeployments" in run(None, cwd=away, env=completion).out
    assert "_bosun_completion" in run(None, "completion", "bash").out


# -- the Python client --------------------------------------------------------------------------------------------


def test_the_python_client_applies_waits_reads_and_raises_the_apis_errors(up: Up) -> None:
    from bosun import Client, Conflict, NotFound, WaitFailed

    md = yaml.safe_load(deployment("py", "client-a", 2))
    with Client(server=up.url, token=up.token) as bosun:
        applied = bosun.apply(md)
        assert (applied.result, applied.generation) == ("created", 1)
        bosun.wait("ModelDeployment", "py", namespace="client-a", timeout=60)
        assert bosun.get("md", "py", namespace="client-a")["status"]["phase"] == "Ready"
        assert [o["metadata"]["name"] for o in bosun.list("md", namespace="client-a")] == ["py"]
        types = [e["type"] for e in bosun.history("md", "py", namespace="client-a")["items"]]
        assert types[0] == "spec.applied" and "status.updated" in types
        with pytest.raises(Conflict) as conflict:
            bosun.apply(md, if_match=1)
        assert conflict.value.status == 409 and conflict.value.code == "Conflict"
        with pytest.raises(NotFound) as missing:
            bosun.get("md", "nope", namespace="client-a")
        assert missing.value.code == "NotFound"
        stuck = yaml.safe_load(deployment("stuck", "client-a", 2, "nowhere", progressDeadlineSeconds=1))
        bosun.apply(stuck)
        with pytest.raises(WaitFailed) as failed:
            bosun.wait("md", "stuck", namespace="client-a", timeout=60)
        assert failed.value.details[0].message.startswith("ProgressDeadlineExceeded")
        events = bosun.watch("md", namespace="client-a", timeout=1)
        assert {e.object["metadata"]["name"] for e in events} == {"py", "stuck"}
        assert bosun.delete("md", "py", namespace="client-a").result == "deleted"
        bosun.wait("md", "py", namespace="client-a", until="delete", timeout=60)


async def test_the_async_client_is_the_same_api(up: Up) -> None:
    from bosun import AsyncClient

    async with AsyncClient(server=up.url, token=up.token) as bosun:
        await bosun.apply(yaml.safe_load(deployment("aio", "client-b", 1)))
        await bosun.wait("md", "aio", namespace="client-b", timeout=60)
        assert [o["metadata"]["name"] async for o in bosun.list("md", namespace="client-b")] == ["aio"]


# -- the quickstart -----------------------------------------------------------------------------------------------


def test_the_quickstart_pools_have_a_price_so_cost_is_not_zero(up: Up) -> None:
    for name in ("00-gpupools.yaml", "10-team-a.yaml"):
        assert run(up, "apply", "-f", str(EXAMPLES / name), "--wait", "--timeout", "60").code == 0
    r = run(up, "cost", "-n", "team-a")
    total = next(line.split() for line in r.out.splitlines() if "(total)" in line)
    assert r.code == 0 and float(total[2]) > 0, r.out  # COST/HOUR
