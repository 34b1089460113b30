// A resource's timeline, newest first: slice, type, who, summary, trace id (a link when the gateway knows
// a trace UI), and the sequences that caused each entry — clickable: the cause is scrolled to and
// highlighted. A filter by slice and type (`timeline-filter`) narrows a long history to what matters.

import { session } from "./api.js";
import { ago, clear, h, isoTime } from "./dom.js";

const SLICES = [["", "All slices"], ["spec", "spec (intent)"], ["ctl", "ctl (decisions)"], ["obs", "obs (observations)"],
  ["cmd", "cmd (commands)"], ["inbox", "inbox"]];

// A trace id as a link to the configured trace UI (`BOSUN_TRACE_URL`), else as code.
export function traceRef(traceId) {
  const template = session.config && session.config.traceUrl;
  if (!template) return h("code", {}, traceId);
  return h("a", { href: template.replaceAll("{traceId}", encodeURIComponent(traceId)), target: "_blank",
    rel: "noopener noreferrer", class: "trace-link", "data-testid": "trace-link" }, h("code", {}, traceId));
}

export function actorOf(entry) {
  if (entry.principal) return entry.principal;
  if (entry.controller) return `controller ${entry.controller}`;
  if (entry.slice === "obs") return "driver";
  if (entry.slice === "cmd") return "command";
  return "";
}

// Commands no observation names as its cause (drivers put the command's seq in its causes).
export function pendingCommands(history) {
  const observed = new Set(history.filter((e) => e.slice === "obs").flatMap((e) => e.causes || []));
  return history.filter((e) => e.slice === "cmd" && !observed.has(e.seq));
}

export function timeline(onTravel, say) {
  const list = h("ol", { class: "timeline", reversed: true, "aria-label": "Timeline, newest first" });
  const sliceSelect = h("select", { id: "tl-slice", name: "slice" }, SLICES.map(([v, label]) => h("option", { value: v }, label)));
  const typeSelect = h("select", { id: "tl-type", name: "type" }, h("option", { value: "" }, "All types"));
  const counter = h("span", { class: "muted", "aria-live": "polite" });
  const filter = h("form", { class: "filters tl-filter", "data-testid": "timeline-filter", "aria-label": "Filter the timeline" },
    h("span", { class: "field" }, h("label", { for: "tl-slice" }, "Slice"), sliceSelect),
    h("span", { class: "field" }, h("label", { for: "tl-type" }, "Type"), typeSelect), counter);
  filter.addEventListener("submit", (e) => e.preventDefault());
  filter.addEventListener("change", () => render(last, lastAt));
  const el = h("div", {}, filter, h("div", { class: "timeline-box" }, list));
  let seqs = new Set();
  let last = [];
  let lastAt = null;

  const wanted = (e) => (!sliceSelect.value || String(e.slice).split(".")[0] === sliceSelect.value)
    && (!typeSelect.value || e.type === typeSelect.value);

  function highlight(seq, from) {
    let target = list.querySelector(`[data-seq="${seq}"]`);
    if (!target && seqs.has(seq)) {  // filtered out: show everything again, then point at it
      sliceSelect.value = typeSelect.value = "";
      render(last, lastAt);
      target = list.querySelector(`[data-seq="${seq}"]`);
    }
    if (!target) {
      say(`seq ${seq} is not in this resource's timeline: it is another resource's event`);
      return;
    }
    for (const el of list.querySelectorAll(".highlight, .effect")) el.classList.remove("highlight", "effect");
    target.classList.add("highlight");
    if (from) from.classList.add("effect");
    target.scrollIntoView({ block: "center", behavior: "smooth" });
    target.focus({ preventScroll: true });
  }

  function entry(e) {
    const li = h("li", { "data-testid": "timeline-entry", "data-seq": String(e.seq), "data-slice": e.slice,
      "data-type": e.type, tabindex: "-1", class: `slice-${String(e.slice).split(".")[0]}` });
    const causes = (e.causes || []).map((c) => h("button", {
      type: "button", class: ["cause", !seqs.has(c) && "external"], "data-testid": "cause", "data-cause": String(c),
      title: seqs.has(c) ? `Show seq ${c}` : `seq ${c} (another resource's event)`,
      on: { click: () => highlight(c, li) } }, String(c)));
    li.append(
      h("div", { class: "head" },
        h("button", { type: "button", class: "seq", title: `View the resource as of seq ${e.seq}`,
          on: { click: () => onTravel(e.seq) } }, `#${e.seq}`),
        h("time", { datetime: e.time, title: isoTime(e.time) }, `${ago(e.time)} ago`),
        h("span", { class: "slice" }, e.slice), h("b", { class: "type" }, e.type),
        h("span", { class: "actor" }, actorOf(e))),
      h("div", { class: "summary" }, e.summary || ""),
      h("div", { class: "meta" },
        causes.length ? [h("span", { class: "muted" }, "caused by "), causes] : null,
        e.traceId ? h("span", { class: "trace", title: "trace id" }, "trace ", traceRef(e.traceId)) : null));
    return li;
  }

  // `history` oldest first; `at` (a seq or null) dims what happened after it.
  function render(history, at) {
    last = history;
    lastAt = at;
    seqs = new Set(history.map((e) => e.seq));
    paintTypes(history);
    const kept = list.querySelector(".highlight");
    const mark = kept ? kept.dataset.seq : null;
    const shown = history.filter(wanted);
    counter.textContent = shown.length === history.length ? `${history.length} events` : `${shown.length} of ${history.length} events`;
    clear(list, [...shown].reverse().map(entry));
    if (mark) list.querySelector(`[data-seq="${mark}"]`)?.classList.add("highlight");
    dim(at);
  }

  function dim(at) {
    for (const li of list.children) li.classList.toggle("future", at !== null && Number(li.dataset.seq) > at);
  }

  // The type choices: every type in the history, the most frequent first (status.updated is usually most).
  function paintTypes(history) {
    const counts = new Map();
    for (const e of history) counts.set(e.type, (counts.get(e.type) || 0) + 1);
    const types = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const sig = types.map(([t, n]) => `${t}:${n}`).join();
    if (typeSelect.dataset.sig === sig) return;
    typeSelect.dataset.sig = sig;
    const keep = typeSelect.value;
    typeSelect.replaceChildren(h("option", { value: "" }, "All types"),
      ...types.map(([t, n]) => h("option", { value: t }, `${t} (${n})`)));
    typeSelect.value = counts.has(keep) ? keep : "";
  }

  return { el, render, dim, highlight };
}
