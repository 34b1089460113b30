// What a resource's status means at a glance: phase, readiness, pools, and whether (and why) it needs
// attention. Shared by the list and the resource view so both say the same thing.

const BAD_PHASES = new Set(["Degraded", "Failed"]);

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
  const pick = troubled(obj) ? (quarantine || failing[0] || ready) : (ready || failing[0]);
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
