// One resource's story: spec, status and conditions (with since-when), its replicas and their logs,
// charts of its history, pending commands and the timeline with causes and trace ids; time travel over
// its sequences and a diff between two of them; the actions its token may take (scale, retry, delete).
// Kept live by a watch of its kind and namespace, from its last known sequence on.

import { actionBar } from "./actions.js";
import { api, kindPath } from "./api.js";
import { historyCharts } from "./charts.js";
import { ago, clear, debounce, errorBox, h, pretty } from "./dom.js";
import { readable } from "./format.js";
import { replicasPanel } from "./replicas.js";
import { watch } from "./sse.js";
import { phaseClass, phaseOf, problem, reasonOf } from "./status.js";
import { actorOf, pendingCommands, timeline } from "./timeline.js";
import { travelControl } from "./travel.js";

const HISTORY_LIMIT = 1000;
const CONVENTION = new Set(["phase", "observedGeneration", "conditions"]);

export function show(main, kind, ns, name, say) {
  const path = kindPath(kind, ns, name);
  const state = { obj: null, history: [], at: null, shown: null, older: undefined };
  let live = null;
  let stopped = false;

  const heading = h("div", { class: "title" });
  const banner = h("div", { class: "banner", hidden: true, role: "status" });
  const summary = h("div", { class: "summary-box" });
  const spec = h("pre", { "data-testid": "spec", class: "code", tabindex: "0", "aria-label": "Spec" });
  const status = h("pre", { "data-testid": "status", class: "code", tabindex: "0", "aria-label": "Status fields" });
  const conditions = h("div");
  const pending = h("div");
  const notice = h("div");
  const times = timeline((seq) => travel.set(seq), say);
  const olderButton = h("button", { type: "button", hidden: true, on: { click: () => loadOlder() } },
    "Load older entries");
  const travel = travelControl(path, (at) => travelTo(at));
  const actions = actionBar(kind, ns, name, () => state.obj, say, () => setTimeout(load, 300));
  const replicas = replicasPanel(kind, ns, name);
  const charts = h("section", { class: "panel charts-panel", "aria-label": "History charts", hidden: true });
  const body = h("div", { hidden: true }, summary, replicas.el, charts, travel.el, banner,
    h("div", { class: "columns" },
      h("section", { class: "panel", "aria-labelledby": "spec-h" }, h("h2", { id: "spec-h" }, "Spec"), spec),
      h("section", { class: "panel", "aria-labelledby": "status-h" }, h("h2", { id: "status-h" }, "Status"),
        conditions, status)),
    h("section", { class: "panel", "aria-labelledby": "pending-h" }, h("h2", { id: "pending-h" }, "Pending commands"), pending),
    h("section", { class: "panel", "aria-labelledby": "tl-h" }, h("h2", { id: "tl-h" }, "Timeline"), times.el,
      olderButton));
  const back = kind === "Node" ? h("a", { href: "#/nodes" }, "← Nodes") : h("a", { href: "#/" }, "← Environment");
  clear(main, h("p", {}, back), heading, notice, body);

  async function load() {
    // A deleted resource has no object any more but keeps its timeline: show what there is.
    const [got, listed] = await Promise.allSettled([api(path), api(`${path}/history`, { limit: HISTORY_LIMIT })]);
    if (stopped) return;
    const failed = got.status === "rejected" ? got.reason : listed.status === "rejected" ? listed.reason : null;
    clear(notice, failed ? errorBox(failed, failed.status === 404 ? "It may have been deleted." : "") : null);
    body.hidden = got.status === "rejected" && (listed.status === "rejected" || !listed.value.items.length);
    if (body.hidden) return;
    state.obj = got.status === "fulfilled" ? got.value : null;
    if (listed.status === "fulfilled") {
      const fresh = listed.value.items || [];
      const oldest = fresh.length ? fresh[0].seq : Infinity;  // keep older pages already loaded
      state.history = [...state.history.filter((e) => e.seq < oldest), ...fresh];
      if (state.older === undefined) state.older = listed.value.continue;
      paintHistory();
    }
    if (state.at === null) paintObject(state.obj);
    actions.refresh();
    if (!live) follow();
  }
  const reload = debounce(load, 100);

  function paintHistory() {
    const drawn = historyCharts(state.history);
    charts.hidden = !drawn;
    clear(charts, drawn);
    travel.update(state.history);
    times.render(state.history, state.at);
    olderButton.hidden = !state.older;
    paintPending();
  }

  async function loadOlder() {
    try {
      const page = await api(`${path}/history`, { limit: HISTORY_LIMIT, continue: state.older });
      if (stopped) return;
      const first = state.history.length ? state.history[0].seq : Infinity;
      state.history = [...(page.items || []).filter((e) => e.seq < first), ...state.history];
      state.older = page.continue;
      paintHistory();
    } catch (e) {
      clear(notice, errorBox(e));
    }
  }

  function follow() {
    const last = state.history.length ? state.history[state.history.length - 1].seq : null;
    live = watch({ kind, namespace: ns === "_cluster" ? null : ns, resourceVersion: last }, {
      onEvent(_type, _seq, obj) {
        if (obj.metadata && obj.metadata.name === name) reload();
      },
      onReset: reload,
      onState({ live: on, error }) {
        heading.dataset.live = on ? "yes" : "no";
        if (error) clear(notice, h("p", { class: "muted" }, `Not live: ${error.message}`));
      },
    });
  }

  async function travelTo(at) {
    state.at = at;
    times.dim(at);
    if (at === null) {
      banner.hidden = true;
      paintObject(state.obj);
      return;
    }
    let obj = null;
    try {
      obj = await api(path, { at });
    } catch (e) {
      if (e.status !== 404) {
        clear(banner, errorBox(e));
        banner.hidden = false;
        return;
      }
    }
    if (state.at !== at || stopped) return;
    clear(banner, `Showing the resource as of seq ${at}; the timeline dims what came after. `,
      h("button", { type: "button", on: { click: () => travel.set(Number.MAX_SAFE_INTEGER) } }, "Back to now"));
    banner.hidden = false;
    paintObject(obj);
  }

  // The h1 stays the same element (the router focuses it on arrival); only the phase badge changes.
  const title = h("h1", { tabindex: "-1" }, `${kind} `, h("span", { class: "muted" }, ns === "_cluster" ? "" : `${ns}/`), name);
  const badge = h("span", { "data-testid": "phase" });
  heading.append(title, badge, actions.el);

  function paintHeading(obj) {
    const phase = obj ? phaseOf(obj) : "";
    badge.className = obj ? phaseClass(phase) : "";
    badge.textContent = obj ? (problem(obj) ? `⚠ ${phase}` : phase) : "";
  }

  function paintObject(obj) {
    state.shown = obj;
    paintHeading(obj);
    if (!obj) {
      clear(summary, h("p", { class: "muted" }, "No object at this point (not yet created, or deleted)."));
      spec.textContent = status.textContent = "—";
      clear(conditions);
      return;
    }
    const meta = obj.metadata || {};
    const st = obj.status || {};
    const reason = reasonOf(obj);
    clear(summary, h("dl", { class: "facts" },
      fact("Generation", `${meta.generation} (observed ${st.observedGeneration ?? "—"})`),
      fact("Resource version", meta.resourceVersion),
      fact("Created", h("time", { datetime: meta.createdAt, title: meta.createdAt }, `${ago(meta.createdAt)} ago`)),
      fact("Labels", Object.entries(meta.labels || {}).map(([k, v]) => `${k}=${v}`).join(", ") || "—"),
      meta.deletionRequested ? fact("Deletion", "requested") : null,
      reason ? fact("Reason", h("span", { class: problem(obj) ? `reason ${problem(obj)}` : "" }, reason)) : null));
    spec.textContent = pretty(obj.spec);
    status.textContent = pretty(readable(Object.fromEntries(Object.entries(st).filter(([k]) => !CONVENTION.has(k)))));
    paintConditions(st.conditions || []);
  }

  function paintConditions(list) {
    const when = new Map(state.history.map((e) => [e.seq, e.time]));
    if (!list.length) { clear(conditions, h("p", { class: "muted" }, "No conditions.")); return; }
    clear(conditions, h("div", { class: "scroll" }, h("table", { class: "generic conditions" },
      h("thead", {}, h("tr", {}, ["Type", "Status", "Reason", "Since", "Message"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, list.map((c) => h("tr", { "data-testid": "condition", class: c.status === "True" ? "" : "false" },
        h("td", { "data-label": "Type" }, c.type), h("td", { "data-label": "Status" }, c.status),
        h("td", { "data-label": "Reason" }, c.reason), h("td", { "data-label": "Since" }, since(c.lastTransitionSeq, when)),
        h("td", { "data-label": "Message" }, c.message)))))));
  }

  function since(seq, when) {
    if (!seq) return "—";
    const t = when.get(seq);
    return h("button", { type: "button", class: "cause", title: `Show seq ${seq} in the timeline`,
      on: { click: () => times.highlight(seq) } }, t ? `seq ${seq} · ${ago(t)} ago` : `seq ${seq}`);
  }

  function paintPending() {
    const cmds = pendingCommands(state.history);
    clear(pending, cmds.length
      ? h("ul", { class: "plain" }, cmds.map((e) => h("li", { "data-testid": "pending-command" },
        h("button", { type: "button", class: "cause", on: { click: () => times.highlight(e.seq) } }, `#${e.seq}`),
        ` ${e.type} · ${e.summary || ""} · ${actorOf(e)} · ${ago(e.time)} ago`)))
      : h("p", { class: "muted" }, "None: every command has been observed by its driver."));
  }

  load();
  return {
    stop() {
      stopped = true;
      replicas.stop();
      reload.cancel();
      if (live) live.close();
    },
  };
}

function fact(term, value) {
  return [h("dt", {}, term), h("dd", {}, value ?? "—")];
}
