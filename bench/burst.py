"""burst: N ModelDeployments declared as fast as possible; time until all are Ready, seen through the gateway.

Intents go through NATS request/reply (the `nats` client user) or HTTP PUT. Readiness is observed on the
gateway's Server-Sent Events watch (`GET /v1/watch?kind=modeldeployment&namespace=bench&phase=Ready`):
each resource is stamped the first time it shows up Ready with status.observedGeneration equal to
metadata.generation. One long-lived stream costs the gateway far less than polling its list.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import httpx
import msgspec
import nats

from bench.plane import Plane
from bench.stats import summary_ms
from bosun.client import local_nats

NS = "bench"
POOL = {"kind": "GpuPool", "metadata": {"name": "bench-pool", "namespace": "infra"},
        "spec": {"region": "us-west-2", "gpu": "a100", "capacity": 1_000_000, "namespaces": ["*"]}}


NODE_POOL = {"kind": "GpuPool", "metadata": {"name": "bench-nodes", "namespace": "infra"},
             "spec": {"region": "sim", "gpu": "sim", "driver": "node", "nodeSelector": {"sim": "true"},
                      "namespaces": ["*"]}}
"""`--nodes N`: a pool made of the plane's N simulated nodes (`bosun up --sim-nodes N`)."""


def manifest(i: int, nodes: bool = False, replicas: int = 1) -> dict[str, Any]:
    if nodes:  # a node pool runs processes: a command (the simulated nodes start none)
        return {"kind": "ModelDeployment", "metadata": {"name": f"d{i}", "namespace": NS},
                "spec": {"model": "m", "replicas": replicas, "command": ["serve"],
                         "placement": {"region": "sim", "gpu": "sim", "spread": "node"}}}
    return {"kind": "ModelDeployment", "metadata": {"name": f"d{i}", "namespace": NS},
            "spec": {"model": "m", "replicas": 1, "placement": {"region": "us-west-2", "gpu": "a100"}}}


def node_gpus(n: int, nodes: int) -> int:
    """GPUs per simulated node for a burst of `n` one-GPU replicas over `nodes`: room for all, and slack."""
    return max(2, -(-2 * n // nodes))


async def wait_pool(plane: Plane, capacity: int, timeout: float = 180.0, name: str = "bench-nodes") -> float:
    """Until the node pool counts `capacity` GPUs (every simulated node joined and Ready); its seconds."""
    t0 = time.monotonic()
    async with httpx.AsyncClient(base_url=plane.url, headers={"Authorization": f"Bearer {plane.token}"}) as http:
        while True:
            r = await http.get(f"/v1/namespaces/infra/gpupools/{name}")
            if r.status_code == 200 and (r.json().get("status") or {}).get("capacity") == capacity:
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"pool {name} not at capacity {capacity} after {timeout}s: {r.text[:300]}")
            await asyncio.sleep(0.5)


async def declare_nats(plane: Plane, n: int, declared: dict[str, float], concurrency: int = 256,
                       nodes: bool = False, replicas: int = 1) -> None:
    nc = await nats.connect(**local_nats(plane.data, plane.token).options())
    sem = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {plane.token}"}

    async def one(i: int) -> None:
        async with sem:
            declared[f"d{i}"] = time.monotonic()
            reply = await nc.request(f"bosun.intent.modeldeployment.{NS}.d{i}",
                                     msgspec.json.encode(manifest(i, nodes, replicas)), timeout=60, headers=headers)
            if reply.headers is None or reply.headers.get("Bosun-Status") != "202":
                raise RuntimeError(f"intent d{i} refused: {reply.data[:200]!r}")

    try:
        await asyncio.gather(*(one(i) for i in range(n)))
    finally:
        await nc.close()


async def declare_http(plane: Plane, n: int, declared: dict[str, float], concurrency: int = 64,
                       nodes: bool = False) -> None:
    """`concurrency` keep-alive connections through aiohttp: the load generator shares the cores with the
    plane it measures, and httpx cost ~10x the CPU per request (1-2 ms at this concurrency)."""
    todo = iter(range(n))
    async with http_session(plane, concurrency) as http:
        async def worker() -> None:
            for i in todo:
                declared[f"d{i}"] = time.monotonic()
                async with http.put(f"/v1/namespaces/{NS}/modeldeployments/d{i}", data=_manifest(i, nodes)) as r:
                    if r.status != 202:
                        raise RuntimeError(f"apply d{i}: {r.status} {(await r.text())[:200]}")
                    await r.read()

        await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))


def http_session(plane: Plane, connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(base_url=plane.url, connector=aiohttp.TCPConnector(limit=connections),
                                 headers={"Authorization": f"Bearer {plane.token}",
                                          "Content-Type": "application/json"},
                                 timeout=aiohttp.ClientTimeout(total=60))


def _manifest(i: int, nodes: bool = False) -> bytes:
    return msgspec.json.encode(manifest(i, nodes))


_object = msgspec.json.Decoder(dict[str, Any])


class ReadyWatch:
    """Follows the gateway's SSE watch of Ready deployments in NS; resumes with Last-Event-ID if it drops.

    `ready[name]` is the monotonic time the resource was first seen Ready at its current generation;
    `connected` is set once the first stream has sent its initial state (": watching").
    """

    RETRY = 0.2

    def __init__(self, plane: Plane, n: int, ready: dict[str, float]) -> None:
        self.plane = plane
        self.n = n
        self.ready = ready
        self.connected = asyncio.Event()
        self.last_id: str | None = None
        self.reconnects = 0
        self.frames = 0

    async def run(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._follow()
        except TimeoutError:
            raise TimeoutError(f"only {len(self.ready)}/{self.n} Ready after {timeout}s") from None

    async def _follow(self) -> None:
        params = {"kind": "modeldeployment", "namespace": NS, "phase": "Ready"}
        auth = {"Authorization": f"Bearer {self.plane.token}"}
        # The gateway sends a keep-alive comment every few idle seconds: 30 s of silence is a dead stream.
        async with httpx.AsyncClient(base_url=self.plane.url, headers=auth, timeout=30) as http:
            while len(self.ready) < self.n:
                headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
                try:
                    async with http.stream("GET", "/v1/watch", params=params, headers=headers) as r:
                        if r.status_code != 200:
                            raise RuntimeError(f"watch: {r.status_code} {(await r.aread())[:300]!r}")
                        await self._frames(r)
                except (httpx.TransportError, httpx.DecodingError):
                    pass  # dropped: resume after the last id we saw
                if len(self.ready) < self.n:
                    self.reconnects += 1
                    await asyncio.sleep(self.RETRY)

    async def _frames(self, r: httpx.Response) -> None:
        # Resuming after id X skips every change up to X, so an id is only kept once everything carrying
        # it has arrived: the initial state (all its frames share one id) ends with ": watching", and a
        # change's id is complete when a frame with another id or a comment line follows.
        event_id: str | None = None
        received: str | None = None
        data: list[str] = []
        async for line in r.aiter_lines():
            if line.startswith(":"):
                if received is not None:
                    self.last_id = received
                if line.startswith(": watching"):
                    self.connected.set()
                continue
            if line:
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "id":
                    event_id = value
                elif field == "data":
                    data.append(value)
                continue
            if event_id is not None:  # a blank line ends an event
                if received is not None and received != event_id:
                    self.last_id = received
                received = event_id
            if data:
                self._seen(_object.decode("\n".join(data)))
                self.frames += 1
            event_id, data = None, []
            if len(self.ready) >= self.n:
                return

    def _seen(self, obj: dict[str, Any]) -> None:
        md, st = obj.get("metadata") or {}, obj.get("status") or {}
        if st.get("phase") == "Ready" and st.get("observedGeneration") == md.get("generation"):
            self.ready.setdefault(md["name"], time.monotonic())


async def start_watch(plane: Plane, n: int, ready: dict[str, float], timeout: float,
                      ) -> tuple[ReadyWatch, asyncio.Task[None]]:
    """Start watching; returns once the watch stream is established (its initial state sent)."""
    watch = ReadyWatch(plane, n, ready)
    task = asyncio.create_task(watch.run(timeout))
    connected = asyncio.create_task(watch.connected.wait())
    await asyncio.wait({task, connected}, return_when=asyncio.FIRST_COMPLETED)
    if not connected.done():
        connected.cancel()
        await task  # it failed before connecting: raise why
    return watch, task


async def run_burst(plane: Plane, n: int, via: str, timeout: float, nodes: int = 0) -> dict[str, Any]:
    """`nodes`: over a pool made of that many simulated nodes (the plane runs `--sim-nodes`), each with
    `node_gpus` GPUs, once every one of them counts in the pool's capacity."""
    t0 = time.monotonic()
    async with httpx.AsyncClient(base_url=plane.url, headers={"Authorization": f"Bearer {plane.token}"}) as http:
        r = await http.put(f"/v1/namespaces/infra/gpupools/{(NODE_POOL if nodes else POOL)['metadata']['name']}",
                           json=NODE_POOL if nodes else POOL)
        r.raise_for_status()
    nodes_s = await wait_pool(plane, nodes * node_gpus(n, nodes)) if nodes else 0.0
    pool_s = time.monotonic() - t0
    declared: dict[str, float] = {}
    ready: dict[str, float] = {}
    t0 = time.monotonic()
    watch, watcher = await start_watch(plane, n, ready, timeout)
    watch_s = time.monotonic() - t0
    start = time.monotonic()
    try:
        await (declare_nats if via == "nats" else declare_http)(plane, n, declared, nodes=bool(nodes))
    except BaseException:
        watcher.cancel()
        raise
    declare_s = time.monotonic() - start
    await watcher
    total = time.monotonic() - start
    latencies = [ready[k] - declared[k] for k in declared]
    return {"via": via, "n": n, **({"nodes": nodes, "gpus_per_node": node_gpus(n, nodes),
                                    "nodes_ready_seconds": round(nodes_s, 3)} if nodes else {}),
            "declare_seconds": round(declare_s, 3), "all_ready_seconds": round(total, 3),
            "resources_per_second": round(n / total, 1), "declared_to_ready": summary_ms(latencies),
            "phases": {"pool_apply_seconds": round(pool_s, 3), "watch_connect_seconds": round(watch_s, 3),
                       "declare_seconds": round(declare_s, 3),
                       "last_declared_to_all_ready_seconds": round(total - declare_s, 3),
                       "all_ready_seconds": round(total, 3)},
            "watch": {"frames": watch.frames, "reconnects": watch.reconnects}}
