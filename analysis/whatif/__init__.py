"""What-if: `bosun plan` runs manifests on a fork of the log (`fork`, `planner`, `outcome`; the start
state is read by `load`).

Every decision in Bosun is a pure function of the log, so the real reconcilers can run on an in-memory
fork of the real history: the kernel's step (`actors.kernel`) against the sim's rules
(`dataplane.sim.rules.Plane`) on a virtual clock. What admission would say about the manifests (schema,
RBAC, quota, a proposed policy) is admission's own and stays in the gateway (`gateway.http.whatif`).
"""
