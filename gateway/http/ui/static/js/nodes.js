// The Nodes view: every machine an agent joined from (the cluster-scoped `Node` kind), kept live by
// `GET /v1/watch?kind=Node` like the environment list. One row per node: Ready or NotReady with the
// reason, cordoned or not, its labels, GPUs allocated/total, replicas and how long ago it last reported.
// NotReady nodes sort first and stand out like stuck rows; a Principal that may not watch nodes gets a
// plain "not allowed" notice (asked through the access review first, so the page makes no refused call).

import { canI } from "./api.js";
import { clear, errorBox, h, isoTime } from "./dom.js";
import { relative } from "./format.js";
import { resourceHref } from "./env.js";
import { watch } from "./sse.js";
import { phaseClass, phaseOf, reasonOf } from "./status.js";

const COLUMNS = ["Name", "Status", "Schedulable", "Labels", "GPUs", "Replicas", "Heartbeat", "Reason"];
const TICK_MS = 5000;  // heartbeat ages move on between events

export function show(main) {
  const rows = new Map();
  const trs = new Map();
  let stream = null;
  let pending = null;
  let stopped = false;

  const live = h("span", { class: "live", role: "status" }, "connecting…");
  const totals = h("p", { class: "muted totals", "data-testid": "nodes-summary" });
  const notice = h("div", { class: "notice" });
  const tbody = h("tbody");
  const empty = h("p", { class: "muted empty", hidden: true }, "No nodes yet. Add a machine with ",
    h("code", {}, "bosun node join NAME"), ", then ", h("code", {}, "bosun agent --join FILE --node NAME"), " on it.");
  const table = h("table", { class: "nodes" },
    h("caption", { class: "sr-only" }, "Nodes"),
    h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col" }, c)))), tbody);
  clear(main, h("div", { class: "title" }, h("h1", { tabindex: "-1" }, "Nodes"), live), totals, notice,
    h("div", { class: "scroll" }, table), empty);

  function forbidden(error) {
    rows.clear();
    render();
    empty.hidden = true;
    live.textContent = "";
    clear(notice, errorBox(error, "Listing nodes needs the watch verb on the Node kind."));
  }

  async function start() {
    const [answer] = await canI([{ verb: "watch", kind: "Node" }]);
    if (stopped) return;
    if (!answer.allowed) {
      forbidden({ code: "Forbidden", message: answer.reason || "you may not see nodes" });
      return;
    }
    stream = watch({ kind: "Node" }, {
      onEvent(type, _seq, obj) {
        if (type === "DELETED") rows.delete(obj.metadata.name);
        else if (obj && obj.metadata) rows.set(obj.metadata.name, obj);
        schedule();
      },
      onReset() {
        rows.clear();
        schedule();
      },
      onState({ live: on, error }) {
        if (error) forbidden(error);
        else {
          live.textContent = on ? "● live" : "○ not connected";
          live.className = on ? "live on" : "live";
        }
      },
    });
  }

  function schedule() {
    if (pending === null) pending = setTimeout(() => { pending = null; render(); }, 30);
  }

  function render() {
    const all = [...rows.values()].sort((a, b) => rank(a) - rank(b) || a.metadata.name.localeCompare(b.metadata.name));
    const keep = new Set(all.map((o) => o.metadata.name));
    for (const [name, tr] of trs) if (!keep.has(name)) { tr.remove(); trs.delete(name); }
    all.forEach((obj, i) => {
      const name = obj.metadata.name;
      let tr = trs.get(name);
      if (!tr) trs.set(name, (tr = newRow(obj)));
      fillRow(tr, obj);
      if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
    });
    empty.hidden = all.length > 0 || !stream;
    totals.textContent = all.length ? summary(all) : "";
  }

  const tick = setInterval(schedule, TICK_MS);
  start();
  return {
    stop() {
      stopped = true;
      clearInterval(tick);
      clearTimeout(pending);
      if (stream) stream.close();
    },
  };
}

// NotReady first (they need someone), then cordoned, then the rest.
function rank(obj) {
  if (phaseOf(obj) !== "Ready") return 0;
  return schedulable(obj) ? 2 : 1;
}

function schedulable(obj) {
  return (obj.status || {}).schedulable !== false && !(obj.spec || {}).unschedulable;
}

function summary(all) {
  const ready = all.filter((o) => phaseOf(o) === "Ready").length;
  const sum = (key) => all.reduce((n, o) => n + ((o.status || {})[key] || 0), 0);
  return `${all.length} node${all.length === 1 ? "" : "s"}, ${ready} Ready · ` +
    `${sum("allocatedGpus")}/${sum("totalGpus")} GPUs allocated · ${sum("replicas")} replicas`;
}

function newRow(obj) {
  const tr = h("tr", { "data-testid": "node-row", "data-name": obj.metadata.name, "data-kind": "Node" });
  for (const column of COLUMNS) tr.append(h("td", { "data-label": column }));
  tr.children[0].append(h("a", { href: resourceHref(obj), class: "name" }, obj.metadata.name));
  return tr;
}

function labelsText(labels) {
  return Object.entries(labels || {}).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(", ");
}

function fillRow(tr, obj) {
  const status = obj.status || {};
  const phase = phaseOf(obj);
  const down = phase !== "Ready";
  const open = schedulable(obj);
  const beat = status.heartbeatTime;
  const cells = [phase, open, labelsText(status.labels), status.allocatedGpus, status.totalGpus, status.replicas,
    beat ? relative(beat) : "", reasonOf(obj)];
  const sig = JSON.stringify(cells);
  if (tr.dataset.sig === sig) return;
  tr.dataset.sig = sig;
  tr.dataset.phase = phase;
  tr.dataset.schedulable = String(open);
  tr.classList.toggle("stuck", down);
  tr.classList.toggle("cordoned", !open);
  const [, statusCell, schedCell, labelCell, gpus, replicas, heartbeat, why] = tr.children;
  clear(statusCell, h("span", { class: phaseClass(phase) }, down ? `⚠ ${phase}` : phase));
  clear(schedCell, open ? "yes" : h("span", { class: "phase phase-cordoned" }, "Cordoned"));
  labelCell.textContent = labelsText(status.labels);
  gpus.textContent = status.totalGpus === undefined ? "" : `${status.allocatedGpus ?? 0}/${status.totalGpus}`;
  replicas.textContent = status.replicas === undefined ? "" : String(status.replicas);
  clear(heartbeat, beat ? h("time", { datetime: isoTime(beat), title: isoTime(beat) }, relative(beat)) : "never");
  clear(why, h("span", { class: down ? "reason stuck" : "reason muted" }, reasonOf(obj)));
}
