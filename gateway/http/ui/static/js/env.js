// The environment view: every resource the Principal may see, kept live by `GET /v1/watch`.
// Kind, namespace and label selector go to the server (they are what RBAC and the watch filter on);
// phase, the search box (name or label) and the sort order work on the page, so the counts per phase
// always cover the whole listing. Problems sort first by default: failed and degraded, then stuck
// (unschedulable, past their deadline, crash-looping), each highlighted with its reason.

import { session } from "./api.js";
import { ago, clear, errorBox, h, isoTime } from "./dom.js";
import { controllersPanel } from "./extras.js";
import { watch } from "./sse.js";
import { keyOf, phaseClass, phaseOf, poolsOf, problem, rank, readyOf, reasonOf } from "./status.js";

const PHASES = ["Ready", "Progressing", "Pending", "Degraded", "Failed", "Deleting"];
const COLUMNS = ["Kind", "Namespace", "Name", "Phase", "Ready", "Pools", "Age", "Reason"];
const AGE_TICK_MS = 5000;
const SORTS = {
  problems: ["Problems first", (a, b) => rank(a) - rank(b) || byKey(a, b)],
  name: ["Name", (a, b) => a.metadata.name.localeCompare(b.metadata.name) || byKey(a, b)],
  newest: ["Newest", (a, b) => created(b) - created(a) || byKey(a, b)],
  oldest: ["Oldest", (a, b) => created(a) - created(b) || byKey(a, b)],
  kind: ["Kind, namespace", byKey],
};

function byKey(a, b) {
  return keyOf(a).localeCompare(keyOf(b));
}

function created(obj) {
  return Date.parse(obj.metadata.createdAt) || 0;
}

// The search box: every word must match. `key=value` matches a label; anything else is a substring of
// the name, namespace, kind, or a label's key or value.
export function matches(obj, query) {
  const labels = Object.entries(obj.metadata.labels || {});
  return query.toLowerCase().split(/\s+/).filter(Boolean).every((word) => {
    if (word.includes("=")) {
      const [k, v] = word.split("=", 2);
      return labels.some(([lk, lv]) => lk.toLowerCase() === k && lv.toLowerCase() === v);
    }
    const hay = [obj.metadata.name, obj.metadata.namespace || "", obj.kind, ...labels.flat()];
    return hay.some((text) => String(text).toLowerCase().includes(word));
  });
}

export function resourceHref(obj) {
  const ns = obj.metadata.namespace || "_cluster";
  return `#/r/${encodeURIComponent(obj.kind)}/${encodeURIComponent(ns)}/${encodeURIComponent(obj.metadata.name)}`;
}

export function show(main, params) {
  const filters = {
    kind: params.get("kind") || "", namespace: params.get("namespace") || "",
    labelSelector: params.get("labelSelector") || "", phase: params.get("phase") || "",
    q: params.get("q") || "", sort: SORTS[params.get("sort")] ? params.get("sort") : "",
  };
  const rows = new Map();
  const trs = new Map();
  let watches = [];
  let pending = null;
  const denied = [];
  let perKind = null;  // the all-kinds refusal, once watching kind by kind

  const status = h("span", { class: "live", role: "status" }, "connecting…");
  const notice = h("div", { class: "notice" });
  const counts = h("div", { class: "counts", role: "group", "aria-label": "Resources per phase" });
  const tbody = h("tbody", { on: { keydown: arrowKeys } });
  const empty = h("p", { class: "muted empty" }, "No resources yet.");
  const form = filterForm(filters, (changed) => {
    Object.assign(filters, changed);
    saveFilters(filters);
    const local = ["phase", "sort"];
    if (Object.keys(changed).some((k) => !local.includes(k))) restart();
    else schedule();
  });
  const search = h("input", { type: "search", id: "f-q", "data-testid": "search", value: filters.q,
    placeholder: "Search name or label (app=chat)", autocomplete: "off", spellcheck: "false",
    "aria-label": "Search resources by name or label" });
  const searched = () => {
    if (filters.q === search.value.trim()) return;
    filters.q = search.value.trim();
    saveFilters(filters);
    schedule();
  };
  for (const event of ["input", "change", "search"]) search.addEventListener(event, searched);
  const table = h("table", { class: "resources" },
    h("caption", { class: "sr-only" }, "Resources"),
    h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col" }, c)))), tbody);
  const controllers = controllersPanel();
  clear(main, h("div", { class: "title" }, h("h1", { tabindex: "-1" }, "Environment"), status),
    h("div", { class: "searchbar", role: "search" }, search), form, counts, notice,
    h("div", { class: "scroll" }, table), empty, controllers.el);

  function open(query, kindName, fallback) {
    const w = watch(query, {
      onEvent(type, _seq, obj) {
        if (type === "DELETED") rows.delete(keyOf(obj));
        else rows.set(keyOf(obj), obj);
        schedule();
      },
      onReset() {
        for (const [key, obj] of rows) if (!kindName || obj.kind === kindName) rows.delete(key);
        schedule();
      },
      onState({ live, error }) {
        if (error) refused(error, query, kindName, fallback);
        w.live = live;
        paintStatus();
      },
    });
    watches.push(w);
  }

  // A Principal allowed only some kinds (or one namespace) is refused the all-kinds watch: watch
  // each kind instead, and say which ones it may not see.
  function refused(error, query, kindName, fallback) {
    const hint = filters.namespace ? "" : "Choose a namespace you may see in the filter above.";
    if (error.status === 403 && fallback) {
      perKind = error;  // the message to show if every kind is refused too
      for (const kind of session.kinds) open({ ...query, kind: kind.name }, kind.name, false);
      return;
    }
    if (!perKind) {
      clear(notice, errorBox(error, hint));
      return;
    }
    denied.push(kindName);
    if (denied.length >= session.kinds.length) clear(notice, errorBox(perKind, hint));
    else clear(notice, h("p", { class: "muted" }, `Not shown (not allowed): ${denied.join(", ")}`));
  }

  function restart() {
    for (const w of watches) w.close();
    watches = [];
    denied.length = 0;
    perKind = null;
    rows.clear();
    clear(notice);
    schedule();
    const query = { namespace: filters.namespace, labelSelector: filters.labelSelector };
    if (filters.kind) open({ ...query, kind: filters.kind }, filters.kind, false);
    else open(query, null, true);
    paintStatus();
  }

  function paintStatus() {
    const live = watches.some((w) => w.live);
    status.textContent = live ? "● live" : "○ not connected";
    status.className = live ? "live on" : "live";
  }

  function schedule() {
    if (pending === null) pending = setTimeout(() => { pending = null; render(); }, 30);
  }

  function render() {
    const all = [...rows.values()].sort(SORTS[filters.sort || "problems"][1]);
    paintCounts(all);
    const shown = all.filter((o) => (!filters.phase || phaseOf(o) === filters.phase) && matches(o, filters.q));
    const keep = new Set(shown.map(keyOf));
    for (const [key, tr] of trs) if (!keep.has(key)) { tr.remove(); trs.delete(key); }
    shown.forEach((obj, i) => {
      const key = keyOf(obj);
      let tr = trs.get(key);
      if (!tr) trs.set(key, (tr = newRow(obj)));
      fillRow(tr, obj);
      if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
    });
    empty.hidden = shown.length > 0;
    empty.textContent = all.length ? "Nothing matches the search and filters." : "No resources yet.";
    form.querySelector("datalist").replaceChildren(
      ...[...new Set(all.map((o) => o.metadata.namespace).filter(Boolean))].sort().map((ns) => h("option", { value: ns })));
  }

  function paintCounts(all) {
    const per = new Map();
    for (const obj of all) per.set(phaseOf(obj), (per.get(phaseOf(obj)) || 0) + 1);
    const chip = (phase, n, label) => h("button", {
      type: "button", class: ["chip", phase && phaseClass(phase)], "data-phase": phase, "aria-pressed": String(filters.phase === phase),
      on: { click: () => { filters.phase = filters.phase === phase ? "" : phase; syncPhase(); } },
    }, `${label} `, h("b", { "data-testid": "phase-count" }, String(n)));
    clear(counts, chip("", all.length, "All"), [...per].sort().map(([phase, n]) => chip(phase, n, phase)));
  }

  function syncPhase() {
    form.elements.phase.value = filters.phase;
    saveFilters(filters);
    schedule();
  }

  const tick = setInterval(schedule, AGE_TICK_MS);
  restart();
  return {
    stop() {
      clearInterval(tick);
      clearTimeout(pending);
      controllers.stop();
      for (const w of watches) w.close();
    },
  };
}

// One list row for `obj`, as the list shows it (exported for the browser tests of troubled rows).
export function rowFor(obj) {
  const tr = newRow(obj);
  fillRow(tr, obj);
  return tr;
}

function newRow(obj) {
  const link = h("a", { href: resourceHref(obj), class: "name" }, obj.metadata.name);
  const tr = h("tr", { "data-testid": "resource-row", "data-kind": obj.kind, "data-namespace": obj.metadata.namespace || "",
    "data-name": obj.metadata.name });
  for (const column of COLUMNS) tr.append(h("td", { "data-label": column }));
  tr.children[0].textContent = obj.kind;
  tr.children[1].textContent = obj.metadata.namespace || "—";
  tr.children[2].append(link);
  return tr;
}

function fillRow(tr, obj) {
  const phase = phaseOf(obj);
  const trouble = problem(obj);
  const reason = reasonOf(obj);
  const cells = [phase, readyOf(obj), poolsOf(obj), ago(obj.metadata.createdAt), reason, trouble];
  const sig = JSON.stringify(cells);
  if (tr.dataset.sig === sig) return;
  tr.dataset.sig = sig;
  tr.dataset.phase = phase;
  tr.dataset.problem = trouble;
  tr.classList.toggle("troubled", trouble === "bad");
  tr.classList.toggle("stuck", trouble === "stuck");
  const [, , , phaseCell, ready, pools, age, why] = tr.children;
  clear(phaseCell, h("span", { class: phaseClass(phase) }, trouble ? `⚠ ${phase}` : phase));
  ready.textContent = readyOf(obj);
  pools.textContent = poolsOf(obj);
  clear(age, h("time", { datetime: obj.metadata.createdAt, title: isoTime(obj.metadata.createdAt) }, ago(obj.metadata.createdAt)));
  clear(why, h("span", { class: trouble ? `reason ${trouble}` : "reason muted" }, reason));
}

// ArrowUp/ArrowDown move between the rows' links (Tab still goes through them in order).
function arrowKeys(event) {
  if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
  const links = [...event.currentTarget.querySelectorAll("a.name")];
  const at = links.indexOf(document.activeElement);
  if (at < 0) return;
  const next = links[at + (event.key === "ArrowDown" ? 1 : -1)];
  if (next) { next.focus(); event.preventDefault(); }
}

function filterForm(filters, onChange) {
  const kindSelect = h("select", { name: "kind", id: "f-kind" }, h("option", { value: "" }, "All kinds"),
    session.kinds.map((k) => h("option", { value: k.name, selected: k.name === filters.kind }, k.name)));
  const phaseSelect = h("select", { name: "phase", id: "f-phase" }, h("option", { value: "" }, "All phases"),
    PHASES.map((p) => h("option", { value: p, selected: p === filters.phase }, p)));
  const field = (name, label, control) => h("span", { class: "field" }, h("label", { for: `f-${name}` }, label), control);
  const text = (name, label, placeholder) => field(name, label, h("input", { id: `f-${name}`, name, value: filters[name],
    placeholder, autocomplete: "off", spellcheck: "false", list: name === "namespace" ? "f-namespaces" : null }));
  const sortSelect = h("select", { name: "sort", id: "f-sort" },
    Object.entries(SORTS).map(([key, [label]]) => h("option", { value: key, selected: key === (filters.sort || "problems") }, label)));
  const form = h("form", { class: "filters", "aria-label": "Filter resources" },
    field("kind", "Kind", kindSelect), text("namespace", "Namespace", "all"), h("datalist", { id: "f-namespaces" }),
    text("labelSelector", "Labels", "app=chat,tier!=dev"), field("phase", "Phase", phaseSelect),
    field("sort", "Sort", sortSelect));
  let timer = null;
  const read = () => ({ kind: kindSelect.value, namespace: form.elements.namespace.value.trim(),
    labelSelector: form.elements.labelSelector.value.trim(), phase: phaseSelect.value,
    sort: sortSelect.value === "problems" ? "" : sortSelect.value });
  const changed = () => {
    const now = read();
    const diff = Object.fromEntries(Object.entries(now).filter(([k, v]) => filters[k] !== v));
    if (Object.keys(diff).length) onChange(diff);
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); changed(); });
  form.addEventListener("change", changed);
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(changed, 400); });
  return form;
}

function saveFilters(filters) {
  const query = new URLSearchParams(Object.entries(filters).filter(([, v]) => v)).toString();
  history.replaceState(null, "", `#/${query ? `?${query}` : ""}`);
}
