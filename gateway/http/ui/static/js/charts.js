// Charts of one resource's own history (its `status.updated` entries): desired vs ready replicas for
// anything that scales, allocated vs total GPUs for a pool. Nothing is drawn for kinds without them.

import { lineChart, track } from "./chart.js";
import { num } from "./format.js";

const fields = (e) => (e.type === "status.updated" && e.data && e.data.fields) || null;

function field(name) {
  return (e) => {
    const f = fields(e);
    return f ? f[name] : undefined;
  };
}

// Figures for `history` (oldest first), or null when the history holds none of these fields.
export function historyCharts(history) {
  const statuses = history.filter(fields);
  const has = (name) => statuses.some((e) => typeof fields(e)[name] === "number");
  const figures = [];
  if (has("desiredReplicas") || has("readyReplicas")) {
    figures.push(lineChart({ title: "Desired vs ready replicas", testid: "replicas-chart", format: (v) => num(v, 0), series: [
      { label: "desired", cls: "s1", step: true, points: track(statuses, field("desiredReplicas")) },
      { label: "ready", cls: "s2", step: true, dash: true, points: track(statuses, field("readyReplicas")) }] }));
  }
  if (has("capacity") && has("allocatedGpus")) {
    figures.push(lineChart({ title: "Pool utilization (GPUs)", testid: "pool-chart", format: (v) => num(v, 0), series: [
      { label: "capacity", cls: "s3", step: true, points: track(statuses, field("capacity")) },
      { label: "allocated", cls: "s1", step: true, points: track(statuses, field("allocatedGpus")) }] }));
  }
  return figures.length ? figures : null;
}
