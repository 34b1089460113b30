"""How a replica is fenced (dataplane/process/fence.py) and who may do what to governance kinds (RBAC), as
tables: uids per namespace, the clean environment, relative commands, planted directories, `exec`, `*`."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from actors.capacity import PoolView
from actors.governance.specs import RoleBindingSpec, RoleSpec, Rule
from actors.modeldeployment import process
from actors.modeldeployment.spec import ModelDeploymentSpec, Placement
from cli.main import main
from core import natscreds
from core.names import Ref
from dataplane.process import fence, store
from gateway.admission.auth import Principal
from gateway.admission.policy import PolicyIndex, Rbac
from supervisor.tree import Supervisor, UpConfig
from tests.conftest import REGISTRY


def test_each_namespace_keeps_a_uid_of_its_own(tmp_path: Path) -> None:
    conn = store.connect(tmp_path)
    uids = range(100, 103)
    a, b = fence.tenant_uid(conn, "team-a", uids), fence.tenant_uid(conn, "team-b", uids)
    assert a != b and {a, b} <= set(uids)
    conn.close()
    again = store.connect(tmp_path)  # a restarted driver: the same uids
    assert fence.tenant_uid(again, "team-a", uids) == a and fence.tenant_uid(again, "team-b", uids) == b
    fence.tenant_uid(again, "team-c", uids)
    with pytest.raises(fence.FenceError, match="no free replica uid"):
        fence.tenant_uid(again, "team-d", uids)


def test_the_environment_holds_nothing_of_the_drivers_but_the_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOSUN_NATS_URL", "nats://bosun:secret@127.0.0.1:4222")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("LANG", "C.UTF-8")
    env = fence.environment({"MODE": "fast"}, {"BOSUN_REPLICA": "r-1"}, Path("/w/r-1"))
    assert env == {"PATH": fence.SAFE_PATH, "HOME": "/w/r-1", "LANG": "C.UTF-8", "MODE": "fast",
                   "BOSUN_REPLICA": "r-1"}


def test_a_relative_command_path_is_the_drivers_and_the_rest_is_untouched() -> None:
    assert fence.executable(("examples/x.py", "a/b")) == [os.path.abspath("examples/x.py"), "a/b"]
    assert fence.executable(("python3", "x.py")) == ["python3", "x.py"]
    assert fence.executable(("/usr/bin/env", "x")) == ["/usr/bin/env", "x"]


def test_a_planted_root_is_refused_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / "root").symlink_to(target)
    f = fence.Fence(tmp_path / "root", drop=False)
    with pytest.raises(fence.FenceError, match="not a directory owned"):
        f.workdir("team-a", "chat", "chat-1", None)
    ok = fence.Fence(tmp_path / "real", drop=False)
    work = ok.workdir("team-a", "chat", "chat-1", None)
    (work / "left-over").write_text("x")
    assert ok.workdir("team-a", "chat", "chat-1", None) == work and not (work / "left-over").exists()
    assert work.stat().st_mode & 0o777 == 0o700
    ok.clear("team-a", "chat", "chat-1")
    assert not work.exists()


def rbac(*rules: Rule, bound_to: str | None = None) -> Rbac:
    index = PolicyIndex()
    index.roles["r"] = RoleSpec(rules=list(rules))
    index.bindings["b"] = RoleBindingSpec(principal="p", role="r", namespace=bound_to)
    return Rbac(index)


P = Principal("p")
NS_ADMIN = Rule(verbs=["*"], kinds=["*"], namespaces=["team-a"])
NAMED = Rule(verbs=["*"], kinds=["Quota", "GpuPool"], namespaces=["*"])


@pytest.mark.parametrize("rule,bound_to,verb,kind,ns,allowed", [
    (NS_ADMIN, None, "apply", "ModelDeployment", "team-a", True),
    (NS_ADMIN, None, "exec", "ModelDeployment", "team-a", True),  # "*" verbs include exec
    (NS_ADMIN, None, "apply", "Quota", "team-a", False),  # "*" kinds never cover governance kinds
    (NS_ADMIN, None, "get", "GpuPool", "team-a", False),
    (NS_ADMIN, None, "get", "Principal", "_cluster", False),
    (Rule(verbs=["*"], kinds=["Quota"], namespaces=["team-a"]), None, "apply", "Quota", "team-a", False),
    (Rule(verbs=["*"], kinds=["Quota"], namespaces=["team-a"]), None, "get", "Quota", "team-a", True),
    (NAMED, None, "apply", "Quota", "team-a", True),
    (NAMED, "team-a", "apply", "Quota", "team-a", False),  # a binding limited to one namespace: not everywhere
    (NAMED, None, "delete", "GpuPool", "infra", True),
    (Rule(verbs=["apply"], kinds=["ModelDeployment"], namespaces=["team-a"]), None, "exec", "ModelDeployment",
     "team-a", False),  # apply does not imply exec
])
def test_governance_kinds_must_be_named_and_shared_ones_written_everywhere(
        rule: Rule, bound_to: str | None, verb: str, kind: str, ns: str, allowed: bool) -> None:
    assert REGISTRY
    denial = rbac(rule, bound_to=bound_to).denial(P, verb, kind, Ref(kind.lower(), ns, "x"))
    assert (denial is None) == allowed, denial



def pool(ns: str = "infra", driver: str = "process", namespaces: tuple[str, ...] = (),
         commands: tuple[str, ...] = ()) -> PoolView:
    return PoolView(ref=Ref("gpupool", ns, "local"), region="local", gpu="any", capacity=4, allocated=0,
                    driver=driver, namespaces=namespaces, commands=commands)


def spec(command: tuple[str, ...] | None = ("/usr/bin/python3", "serve.py")) -> ModelDeploymentSpec:
    return ModelDeploymentSpec(model="m", replicas=1, placement=Placement(region="local", gpu="any"), command=command)


@pytest.mark.parametrize("view,deployment,namespace,why", [
    (pool(), spec(), "infra", None),  # its own namespace
    (pool(), spec(), "team-a", "does not admit namespace team-a"),
    (pool(namespaces=("team-a",)), spec(), "team-a", None),
    (pool(namespaces=("*",)), spec(), "team-b", None),
    (pool(namespaces=("*",)), spec(None), "team-b", "needs spec.command"),
    (pool(namespaces=("*",), commands=("/usr/bin/python3",)), spec(), "team-b", None),
    (pool(namespaces=("*",), commands=("/usr/bin/python3",)), spec(("sh", "-c", "id")), "team-b", "runs only"),
    (pool(driver="sim"), spec(None), "team-a", "does not admit namespace team-a"),
    (pool(driver="sim", namespaces=("team-a",)), spec(None), "team-a", None),
])
def test_placement_refuses_pools_that_do_not_admit_the_deployment(view: PoolView, deployment: ModelDeploymentSpec,
                                                                  namespace: str, why: str | None) -> None:
    refusal = process.refusal(view, deployment, namespace)
    assert (refusal is None) if why is None else (refusal is not None and why in refusal), refusal


# ---- the process driver keeps no secret in its environment or argv ---------------------------------------


def test_a_nats_url_s_password_is_told_apart_and_taken_out() -> None:
    url = "nats://driver:s3cr%40t@10.0.0.1:4222,nats://driver:s3cr%40t@10.0.0.2:4222"
    assert natscreds.has_password(url) and not natscreds.has_password("nats://10.0.0.1:4222,10.0.0.2:4222")
    assert not natscreds.has_password("nats://just-a-user@h:4222")
    assert natscreds.userinfo(url) == natscreds.UserPass("driver", "s3cr@t")
    assert natscreds.without_userinfo(url) == "nats://10.0.0.1:4222,nats://10.0.0.2:4222"


def test_the_process_driver_refuses_a_password_in_its_nats_url(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["driver", "process", "--data", str(tmp_path), "--nats",
                                       "nats://driver:hunter2@127.0.0.1:1"])
    assert result.exit_code == 2 and "BOSUN_NATS_CREDENTIALS" in result.output, result.output


def test_bosun_up_hands_an_external_nats_user_to_the_driver_in_a_private_file(tmp_path: Path) -> None:
    """`bosun up --nats URL` with a user in the URL: the process driver gets a credentials file, not the secret."""
    up = Supervisor(UpConfig(data=tmp_path, nats_url="nats://bosun:hunter2@127.0.0.1:4222"))
    up.run_dir.mkdir(parents=True)
    env = up._secretless("nats://bosun:hunter2@127.0.0.1:4222")
    assert "hunter2" not in " ".join(env.values())
    assert env["BOSUN_NATS_URL"] == "nats://127.0.0.1:4222"
    path = Path(env["BOSUN_NATS_CREDENTIALS"])
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert natscreds.url_for(env["BOSUN_NATS_URL"], "driver", path) == "nats://bosun:hunter2@127.0.0.1:4222"
    assert up._secretless("nats://127.0.0.1:4222") == {}  # nothing to hide: nothing changes
