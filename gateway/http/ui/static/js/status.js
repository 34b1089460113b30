// What a resource's status means at a glance: phase, readiness, pools, and whether (and why) it needs
// attention. Shared by the list and the resource view so both say the same thing.

const BAD_PHASES = new Set(["Degraded", "Failed"]);
// Reasons that mean "waiting will not fix this": no capacity, past its deadline, replicas failing to start,
// a node whose agent stopped beating.
const STUCK_REASONS = new Set(["Unschedulable", "InsufficientCapacity", "ProgressDeadlineExceeded", "StartFailed",
  "QuotaExceeded", "HeartbeatLost"]);

export const keyOf = (obj) => `${obj.kind}/${obj.metadata.namespace || ""}/${obj.metadata.name}`;

export function conditions(obj) {
  return (obj.status && obj.status.conditions) || [];
}

export function quarantined(obj) {
  return conditions(obj).some((c) => (c.type === "Quarantined" && c.status === "True")
    || /quarantin/i.test(c.reason || ""));
}

// Degraded, Failed or quarantined: the list makes it stand out, with its reason.
export function troubled(obj) {
  return BAD_PHASES.has(phaseOf(obj)) || quarantined(obj);
}

// Not failed, but not getting anywhere on its own: unschedulable, past its progress deadline, crash-looping.
export function stuck(obj) {
  return !troubled(obj) && conditions(obj).some((c) => STUCK_REASONS.has(c.reason) && !(c.type === "Ready" && c.status === "True"));
}

// "bad" (Degraded, Failed, quarantined), "stuck", or "" (fine, or on its way): what the list highlights.
export function problem(obj) {
  return troubled(obj) ? "bad" : stuck(obj) ? "stuck" : "";
}

// Sort rank, problems first: bad, stuck, then everything still moving, then the settled.
export function rank(obj) {
  const p = problem(obj);
  if (p === "bad") return 0;
  if (p === "stuck") return 1;
  return phaseOf(obj) === "Ready" ? 3 : 2;
}

export function phaseOf(obj) {
  return (obj.status && obj.status.phase) || "Unknown";
}

// The condition that explains the current state: for a troubled resource the failing one, otherwise
// the Ready condition (e.g. "ScalingUp: 3/5 replicas ready").
export function reasonOf(obj) {
  const all = conditions(obj);
  const failing = all.filter((c) => c.status !== "True" && c.type !== "Ready");
  const quarantine = all.find((c) => c.type === "Quarantined" && c.status === "True");
  const ready = all.find((c) => c.type === "Ready");
  const stuckOne = all.find((c) => STUCK_REASONS.has(c.reason) && !(c.type === "Ready" && c.status === "True"));
  const pick = troubled(obj) ? (quarantine || failing[0] || ready) : (stuckOne || ready || failing[0]);
  if (!pick) return "";
  return [pick.reason, pick.message].filter(Boolean).join(": ");
}

export function readyOf(obj) {
  const status = obj.status || {};
  const spec = obj.spec || {};
  const desired = status.desiredReplicas ?? spec.replicas;
  const ready = status.readyReplicas;
  if (desired === undefined && ready === undefined) {
    if (status.capacity !== undefined) return `${status.freeGpus ?? "?"} free / ${status.capacity} GPU`;
    return "";
  }
  return `${ready ?? 0}/${desired ?? "?"}`;
}

export function poolsOf(obj) {
  const pools = (obj.status && obj.status.replicasByPool) || {};
  return Object.entries(pools).map(([pool, n]) => `${pool}=${n}`).join(", ");
}

export function phaseClass(phase) {
  return `phase phase-${String(phase).toLowerCase().replace(/[^a-z]/g, "")}`;
}
