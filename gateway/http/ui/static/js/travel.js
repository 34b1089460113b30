// Time travel over one resource's own sequences, and the field-by-field diff between two of them.
// The slider's value is a stream sequence, exactly as in `?at=`; the view follows its input/change
// events. The diff is computed here from two `?at=` reads, so it needs only the `get` verb on this one
// resource (the environment-wide `GET /v1/diff` needs `list` in every namespace and folds every object
// of the kind).

import { api } from "./api.js";
import { ago, clear, errorBox, h, isoTime, show } from "./dom.js";

const FOLLOW_MS = 120;

export function travelControl(path, onTravel) {
  let entries = [];
  let timer = null;
  const slider = h("input", { type: "range", id: "time-travel", "data-testid": "time-travel", min: "0", max: "0",
    step: "1", value: "0", "aria-describedby": "tt-where" });
  const where = h("output", { id: "tt-where", for: "time-travel", class: "where" }, "now");
  const follow = (delay) => {
    clearTimeout(timer);
    const seq = Number(slider.value);
    paintWhere(seq);
    timer = setTimeout(() => onTravel(seq >= Number(slider.max) ? null : seq), delay);
  };
  slider.addEventListener("input", () => follow(FOLLOW_MS));
  slider.addEventListener("change", () => follow(0));
  const step = (direction) => {
    const seq = Number(slider.value);
    const seqs = entries.map((e) => e.seq);
    const next = direction < 0 ? seqs.filter((s) => s < seq).pop() : seqs.find((s) => s > seq);
    if (next !== undefined) set(next);
  };
  const button = (label, title, fn) => h("button", { type: "button", title, "aria-label": title, on: { click: fn } }, label);
  const diff = diffControl(path);
  const el = h("section", { class: "panel travel", "aria-labelledby": "tt-h" },
    h("h2", { id: "tt-h" }, "Time travel"),
    h("div", { class: "travel-row" },
      h("label", { for: "time-travel" }, "As of sequence"), slider,
      button("◀", "Previous event", () => step(-1)), button("▶", "Next event", () => step(1)),
      button("Now", "Back to now", () => set(Number(slider.max)))),
    where, diff.el);

  function paintWhere(seq) {
    const last = [...entries].reverse().find((e) => e.seq <= seq);
    const live = seq >= Number(slider.max);
    const text = live ? `now (seq ${slider.max})` : `seq ${seq}${last ? ` · after ${last.type} (${ago(last.time)} ago)` : ""}`;
    where.textContent = text;
    slider.setAttribute("aria-valuetext", text);
  }

  function set(seq) {
    slider.value = String(seq);
    follow(0);
  }

  // New history (oldest first): the range spans it; a slider at "now" stays at now.
  function update(history) {
    const atNow = Number(slider.value) >= Number(slider.max);
    entries = history;
    if (!history.length) return;
    slider.min = String(history[0].seq);
    slider.max = String(history[history.length - 1].seq);
    if (atNow) slider.value = slider.max;
    paintWhere(Number(slider.value));
    diff.update(history);
  }

  return { el, update, set };
}

function diffControl(path) {
  const from = h("select", { id: "diff-from", "data-testid": "diff-from" });
  const to = h("select", { id: "diff-to", "data-testid": "diff-to" });
  const out = h("div", { class: "diff", "aria-live": "polite" });
  const el = h("form", { class: "diff-form", "aria-label": "Compare two points" },
    h("label", { for: "diff-from" }, "Compare"), from, h("label", { for: "diff-to" }, "with"), to,
    h("button", { type: "submit", "data-testid": "diff-run" }, "Diff"), out);
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(out, h("p", { class: "muted" }, "Comparing…"));
    try {
      const [a, b] = await Promise.all([api(path, { at: from.value }), api(path, { at: to.value })]);
      clear(out, diffTable(changes(diffable(a), diffable(b)), from.value, to.value));
    } catch (e) {
      clear(out, errorBox(e));
    }
  });
  let newest = null;
  function update(history) {
    const keep = [from.value, to.value === newest ? "" : to.value];  // "to" at the newest follows it
    newest = String(history[history.length - 1].seq);
    const options = () => [...history].reverse().map((e) => h("option", { value: String(e.seq) },
      `seq ${e.seq} · ${e.type} · ${isoTime(e.time).slice(11, 19)}`));
    from.replaceChildren(...options());
    to.replaceChildren(...options());
    from.value = keep[0] || String(history[0].seq);
    to.value = keep[1] || String(history[history.length - 1].seq);
  }
  return { el, update };
}

function diffTable(found, a, b) {
  if (!found.length) return h("p", { class: "muted" }, `No difference between seq ${a} and seq ${b}.`);
  return h("div", { class: "scroll" }, h("table", { class: "generic" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Field"), h("th", { scope: "col" }, `seq ${a}`),
      h("th", { scope: "col" }, `seq ${b}`))),
    h("tbody", {}, found.map((c) => h("tr", { "data-testid": "diff-row", "data-path": c.path },
      h("td", { "data-label": "Field" }, h("code", {}, c.path)),
      h("td", { "data-label": `seq ${a}`, class: "from" }, show(c.from)),
      h("td", { "data-label": `seq ${b}`, class: "to" }, show(c.to)))))));
}

// The same fields and leaf-level rules as the gateway's diffs (gateway/diff.py, envtravel.py):
// objects compare key by key, lists compare whole (their order matters).
export function diffable(obj) {
  const meta = (obj && obj.metadata) || {};
  const picked = {};
  for (const key of ["labels", "generation", "deletionRequested"]) if (key in meta) picked[key] = meta[key];
  return { metadata: picked, spec: (obj && obj.spec) || {}, status: (obj && obj.status) || {} };
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

export function changes(before, after, path = "$") {
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => changes(before[k], after[k], `${path}.${k}`));
  }
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  if (isObject(after) && before === undefined) return changes({}, after, path);
  if (isObject(before) && after === undefined) return changes(before, {}, path);
  return [{ path, from: before, to: after }];
}
