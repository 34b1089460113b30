// A resource's timeline, newest first: slice, type, who, summary, trace id, and the sequences that
// caused each entry — clickable: the cause is scrolled to and highlighted.

import { ago, clear, h, isoTime } from "./dom.js";

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
  let seqs = new Set();

  function highlight(seq, from) {
    const target = list.querySelector(`[data-seq="${seq}"]`);
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
        e.traceId ? h("span", { class: "trace", title: "trace id" }, "trace ", h("code", {}, e.traceId)) : null));
    return li;
  }

  // `history` oldest first; `at` (a seq or null) dims what happened after it.
  function render(history, at) {
    seqs = new Set(history.map((e) => e.seq));
    const kept = list.querySelector(".highlight");
    const mark = kept ? kept.dataset.seq : null;
    clear(list, [...history].reverse().map(entry));
    if (mark) list.querySelector(`[data-seq="${mark}"]`)?.classList.add("highlight");
    dim(at);
  }

  function dim(at) {
    for (const li of list.children) li.classList.toggle("future", at !== null && Number(li.dataset.seq) > at);
  }

  return { el: list, render, dim, highlight };
}
