"""`bosun bench upgrade`: a rolling upgrade from a tagged release to this code, one component at a time.

The plane runs as separate processes on a NATS of its own (no Bosun users: the tag predates them; see
docs/upgrades.md for the engine's own upgrade): a gateway, two controller hosts sharing the partitions, a
projector and the sim driver, all on the tag's code. It gets resources and history, then a writer applies
changes without pause while each component is replaced by this code's: controller hosts one at a time,
then the gateway, the projector, the driver. Then it checks that no acknowledged write is missing, that no
replica was restarted (no start command for a replica that was running), that today's code makes every
recorded decision again (`replay --check --all`), and that the changed event (`PlacementFailed` v2) reads
the same from both versions' bodies.

The tag's code runs from `git archive <tag>` in a venv of its own that borrows this interpreter's installed
dependencies (a `.pth` file: no download), cached under `--cache`.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from core import natsserver
from core.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
ORDER = ("controller-1", "controller-2", "gateway", "projector", "driver-sim")
"""Controller hosts one at a time (the other keeps every partition meanwhile), then the rest."""


@dataclass(frozen=True)
class Release:
    name: str
    bosun: str


def this_release() -> Release:
    return Release("this", str(Path(sys.executable).parent / "bosun"))


def old_release(tag: str, cache: Path) -> Release:
    """The tag's `bosun`, built once into `cache/<tag>` (its sources and a venv borrowing our dependencies)."""
    root = cache / tag
    ready = root / "ready"
    bosun = root / "venv" / "bin" / "bosun"
    if ready.exists():
        return Release(tag, str(bosun))
    shutil.rmtree(root, ignore_errors=True)
    src = root / "src"
    src.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", tag], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(src, filter="data")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    site = Path(subprocess.run([str(root / "venv" / "bin" / "python"), "-c",
                                "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "bosun-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    bosun.write_text(f"#!{root / 'venv' / 'bin' / 'python'}\nimport sys\nsys.path.insert(0, {str(src)!r})\n"
                     "from cli.main import main\nsys.exit(main())\n")
    bosun.chmod(0o755)
    (root / "venv" / "bin" / "nats-server").symlink_to(natsserver.binary())
    ready.write_text(tag)
    return Release(tag, str(bosun))


@dataclass
class Plane:
    """The components of one plane as processes, each of a chosen release."""

    data: Path
    nats_url: str
    port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    running: dict[str, Release] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self, name: str, release: Release) -> list[str]:
        common = ["--nats", self.nats_url, "--data", str(self.data)]
        db = ["--db-dir", str(self.data / "projections")]
        return {
            "gateway": ["gateway", *common, *db, "--token-file", str(self.data / "admin.token"),
                        "--http-port", str(self.port)],
            "controller-1": ["controller", *common, "--host-id", "host-1"],
            "controller-2": ["controller", *common, "--host-id", "host-2"],
            "projector": ["projector", *common, *db],
            "driver-sim": ["driver", "sim", *common, "--latency", "0.05"],
        }[name]

    def start(self, name: str, release: Release) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOSUN_")}
        env["BOSUN_LOG_LEVEL"] = "WARNING"
        log = open(self.data / f"{name}.log", "ab")  # noqa: SIM115 - the child holds it
        self.procs[name] = subprocess.Popen([release.bosun, *self.argv(name, release)], env=env,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.running[name] = release

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def token(self) -> str:
        return (self.data / "admin.token").read_text().strip()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token()}"}, timeout=30)

    def healthy(self, timeout: float = 60) -> None:
        wait(lambda: _get_ok(self.url + "/healthz"), timeout, "the gateway")


def _get_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, KeyError, ValueError) as e:
            last = e
        if last:
            return last
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}: {last!r}")


def pool(name: str, capacity: int, region: str = "us-west-2") -> dict[str, Any]:
    return {"kind": "GpuPool", "metadata": {"name": name, "namespace": "infra"},
            "spec": {"region": region, "gpu": "a100", "capacity": capacity}}


def deployment(name: str, replicas: int, region: str = "us-west-2") -> dict[str, Any]:
    return {"kind": "ModelDeployment", "metadata": {"name": name, "namespace": "team-a", "labels": {"app": name}},
            "spec": {"model": "llama-3-8b", "replicas": replicas, "placement": {"region": region, "gpu": "a100"}}}


def apply(api: httpx.Client, doc: dict[str, Any]) -> int:
    kind = {"GpuPool": "gpupools", "ModelDeployment": "modeldeployments"}[doc["kind"]]
    ns = doc["metadata"]["namespace"]
    r = api.put(f"/v1/namespaces/{ns}/{kind}/{doc['metadata']['name']}", json=doc)
    if r.status_code != 202:
        raise RuntimeError(f"apply {doc['metadata']['name']}: {r.status_code} {r.text}")
    return int(r.json()["resourceVersion"])


def phase(api: httpx.Client, ns: str, kind: str, name: str) -> str | None:
    r = api.get(f"/v1/namespaces/{ns}/{kind}/{name}")
    return str(r.json()["status"]["phase"]) if r.status_code == 200 else None


def history(api: httpx.Client, ns: str, kind: str, name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    while True:
        params: dict[str, Any] = {"since": 0, "limit": 1000, **({"continue": token} if token else {})}
        body = api.get(f"/v1/namespaces/{ns}/{kind}/{name}/history", params=params).json()
        items += body["items"]
        token = body["continue"]
        if not token:
            return items


def seed(api: httpx.Client, deployments: int) -> None:
    """Resources with a story: a quota, pools, deployments scaled (one autoscaled), one unschedulable
    (PlacementFailed), one deleted."""
    quota = {"kind": "Quota", "metadata": {"name": "team-a", "namespace": "team-a"},
             "spec": {"limits": {"gpus": 48, "deployments": 20}}}
    r = api.put("/v1/namespaces/team-a/quotas/team-a", json=quota)
    if r.status_code != 202:
        raise RuntimeError(f"quota: {r.status_code} {r.text}")
    apply(api, pool("usw2-a100", 64))
    for i in range(deployments):
        doc = deployment(f"model-{i}", 2)
        if i == 1:
            doc["spec"]["autoscaling"] = {"min": 2, "max": 4, "targetLoadPerReplica": 50}
        apply(api, doc)
    apply(api, deployment("nowhere", 1, region="mars-1"))  # no pool there: PlacementFailed
    apply(api, deployment("short-lived", 1))
    wait(lambda: all(phase(api, "team-a", "modeldeployments", f"model-{i}") == "Ready" for i in range(deployments)),
         120, "the deployments to be Ready")
    apply(api, deployment("model-0", 3))
    api.delete("/v1/namespaces/team-a/modeldeployments/short-lived")
    wait(lambda: phase(api, "team-a", "modeldeployments", "model-0") == "Ready"
         and api.get("/v1/namespaces/team-a/modeldeployments/model-0").json()["status"]["readyReplicas"] == 3,
         120, "model-0 at 3 replicas")
    wait(lambda: api.get("/v1/namespaces/team-a/modeldeployments/short-lived").status_code == 404, 60,
         "short-lived to be gone")


class Writer(threading.Thread):
    """Spec changes without pause, through whichever gateway answers; every acknowledged one remembered."""

    def __init__(self, plane: Plane) -> None:
        super().__init__(daemon=True)
        self.plane = plane
        self.stop = threading.Event()
        self.acked: list[tuple[str, int]] = []
        self.refused = 0

    def run(self) -> None:
        n = 0
        with self.plane.client() as api:
            while not self.stop.is_set():
                n += 1
                name = f"writes-{n % 5}"
                try:
                    self.acked.append((name, apply(api, pool(name, 1 + n % 30, region="eu-west-9"))))
                except (httpx.HTTPError, RuntimeError):
                    self.refused += 1  # the gateway is being replaced: retried with the next write
                    time.sleep(0.05)


def started_replicas(api: httpx.Client, names: list[str], after: float) -> dict[str, list[str]]:
    """Replica start commands of `names` issued after `after` (epoch seconds)."""
    import datetime as dt

    out: dict[str, list[str]] = {}
    for name in names:
        for item in history(api, "team-a", "modeldeployments", name):
            when = dt.datetime.fromisoformat(item["time"].replace("Z", "+00:00")).timestamp()
            if item["type"] == "replica.start" and when > after:
                out.setdefault(name, []).append(item["summary"])
    return out


def placement_codes(api: httpx.Client, name: str) -> list[str]:
    """The `code` of each PlacementFailed of `name`, as this code reads the stored bodies (v1 ones upcast)."""
    from actors.registry import load
    from core import bundles, codec

    registry = load()
    body = api.get("/v1/bundle", params={"ref": f"modeldeployment/team-a/{name}"}, timeout=60).content
    _, messages = bundles.from_bytes(body)
    kind = registry.kind("modeldeployment")
    return [str(getattr(codec.decode(kind, m.data, m.headers), "code", None)) for m in messages
            if m.headers.get("Bosun-Type") == "deployment.placement-failed"]


def rolling_upgrade(old: Release, new: Release, workdir: Path, deployments: int = 4,
                    settle: float = 3.0, fixture: Path | None = None) -> dict[str, Any]:
    """The whole scenario; returns its report (raises when the plane never came up)."""
    data = workdir / "plane"
    data.mkdir(parents=True, exist_ok=True)
    server = natsserver.start(workdir / "nats")
    plane = Plane(data, server.url())
    report: dict[str, Any] = {"from": old.name, "to": new.name, "steps": []}
    try:
        for name in ("gateway", "controller-1", "controller-2", "projector", "driver-sim"):
            plane.start(name, old)
        plane.healthy()
        with plane.client() as api:
            seed(api, deployments)
            if fixture is not None:
                body = api.get("/v1/bundle", params={"all": "true"}, timeout=120)
                fixture.write_bytes(body.content)
                report["fixture"] = {"path": str(fixture), "bytes": len(body.content)}
            steady = [f"model-{i}" for i in range(deployments)]
            writer = Writer(plane)
            began = time.time()
            writer.start()
            for name in ORDER:
                t0 = time.monotonic()
                plane.stop(name)
                plane.start(name, new)
                if name == "gateway":
                    plane.healthy()
                time.sleep(settle)
                report["steps"].append({"component": name, "seconds": round(time.monotonic() - t0, 2),
                                        "acked_so_far": len(writer.acked)})
            time.sleep(settle)
            writer.stop.set()
            writer.join(30)
            # the changed event, written by the new code
            apply(api, deployment("nowhere-too", 1, region="venus-1"))
            wait(lambda: any(i["type"] == "deployment.placement-failed"
                             for i in history(api, "team-a", "modeldeployments", "nowhere-too")), 60,
                 "a PlacementFailed from the new code")
            report.update(_checks(api, plane, writer, steady, began))
    finally:
        plane.stop_all()
        server.stop()
    return report


def _checks(api: httpx.Client, plane: Plane, writer: Writer, steady: list[str], began: float) -> dict[str, Any]:
    lost = []
    for name in sorted({n for n, _ in writer.acked}):
        seen = {i["seq"] for i in history(api, "infra", "gpupools", name) if i["type"] == "spec.applied"}
        lost += [(name, rv) for n, rv in writer.acked if n == name and rv not in seen]
    restarted = started_replicas(api, steady, began)
    codes = {name: placement_codes(api, name) for name in ("nowhere", "nowhere-too")}
    check = subprocess.run([this_release().bosun, "--server", plane.url, "--token", plane.token(), "replay",
                            "--check", "--all"], capture_output=True, text=True, timeout=600, check=False)
    return {"acked_writes": len(writer.acked), "refused_writes": writer.refused, "lost_writes": lost,
            "restarted_replicas": restarted, "placement_codes": codes,
            "replay_check": (check.stdout.strip().splitlines() or [check.stderr.strip()])[-1],
            "replay_check_ok": check.returncode == 0 and " 0 divergences" in check.stdout,
            "ok": not lost and not restarted and check.returncode == 0 and " 0 divergences" in check.stdout
            and codes["nowhere"][:1] == ["NoMatchingPool"] and codes["nowhere-too"][:1] == ["NoMatchingPool"]}
