"""What a deployment tells the `process` driver: the launch of one replica, derived from the spec (pure).

Kept apart from `model.py` so the reconciler only asks "which command starts a replica on this pool"
and "is this replica still running what the spec says".
"""
from __future__ import annotations

from actors.capacity import PoolView
from actors.modeldeployment.spec import ModelDeploymentSpec
from actors.placement import Slot
from core import nodes
from core.replicas import Launch, Probe, StartOnNode, StartProcess, StartReplica

PROCESS = "process"
NODE = "node"
"""A pool made of nodes: its replicas are processes too, each started by its node's agent."""


def runs_processes(driver: str) -> bool:
    """A replica's driver runs the spec's command: the process driver, or a node's agent (`node-<NAME>`)."""
    return driver in (PROCESS, NODE) or driver.startswith(nodes.PRINCIPAL_PREFIX)


def launch_for(spec: ModelDeploymentSpec) -> Launch | None:
    """The launch a process replica of `spec` runs; None when the spec has no command."""
    if spec.command is None:
        return None
    probe = None
    if spec.readiness is not None:
        probe = Probe(path=spec.readiness.http_get.path, period_seconds=spec.readiness.period_seconds,
                      failure_threshold=spec.readiness.failure_threshold)
    return Launch(command=spec.command, env=dict(spec.env), readiness=probe, startup_seconds=spec.startup_seconds,
                  termination_grace_seconds=spec.termination_grace_period_seconds,
                  load_path=spec.autoscaling.load_get if spec.autoscaling is not None else "")


def start_command(driver: str, rid: str, pool: str, spec: ModelDeploymentSpec, generation: int) -> StartReplica:
    launch = launch_for(spec) if driver == PROCESS else None
    if launch is not None:
        return StartProcess(replica=rid, pool=pool, gpus=spec.gpus_per_replica, model=spec.model,
                            generation=generation, launch=launch)
    return StartReplica(replica=rid, pool=pool, gpus=spec.gpus_per_replica, model=spec.model, generation=generation)


def start_on_node(slot: Slot, pool: str, spec: ModelDeploymentSpec, generation: int) -> tuple[str, StartOnNode]:
    """The driver (the node's own, `node-<NAME>`) and the command that start `slot`'s replica on its node."""
    launch = launch_for(spec)
    assert launch is not None, "a node pool refuses a deployment without a command"
    return nodes.driver(slot.node), StartOnNode(replica=slot.replica, pool=pool, gpus=spec.gpus_per_replica,
                                                model=spec.model, generation=generation, launch=launch,
                                                node=slot.node, devices=slot.devices)


def driver_of(cmd: StartReplica) -> str:
    if isinstance(cmd, StartOnNode):
        return nodes.driver(cmd.node)
    return PROCESS if isinstance(cmd, StartProcess) else "sim"


def launch_of(cmd: StartReplica) -> Launch | None:
    return cmd.launch if isinstance(cmd, StartProcess) else None


def runs_spec(driver: str, launch: Launch | None, spec: ModelDeploymentSpec) -> bool:
    """A process replica is current only while it runs the spec's launch (a new command rolls it)."""
    return not runs_processes(driver) or launch == launch_for(spec)


def refusal(pool: PoolView, spec: ModelDeploymentSpec, namespace: str) -> str | None:
    """Why `pool` may not run replicas of `spec`, a deployment of `namespace` (None: it may).

    A pool admits its own namespace and those it lists; a process pool runs only a deployment that says
    what to run, and only the executables it lists (when it lists any); a deployment that selects nodes
    (`placement.nodeSelector`) goes only to pools made of nodes."""
    where = f"GpuPool {pool.ref.namespace}/{pool.ref.name}"
    if not pool.admits(namespace):
        return f"{where} does not admit namespace {namespace} (spec.namespaces)"
    if spec.placement.node_selector and pool.driver != NODE:
        return f"{where} is not made of nodes: placement.nodeSelector needs a pool with driver: node"
    if runs_processes(pool.driver) and spec.command is None:
        return f"{where} runs processes: the deployment needs spec.command"
    if pool.commands and (spec.command is None or spec.command[0] not in pool.commands):
        return f"{where} runs only {', '.join(pool.commands)} (spec.commands)"
    return None
