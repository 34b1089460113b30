// Who did what, allowed or denied, and why: `GET /v1/audit` with its filters, newest first.

import { api } from "./api.js";
import { ago, clear, errorBox, h, isoTime } from "./dom.js";
import { traceRef } from "./timeline.js";

const FIELDS = [["principal", "Principal"], ["namespace", "Namespace"], ["kind", "Kind"], ["name", "Name"]];
const PAGE = 100;
const REFRESH_MS = 3000;

export function show(main, params) {
  const filters = Object.fromEntries([...FIELDS.map(([k]) => k), "decision"].map((k) => [k, params.get(k) || ""]));
  const tbody = h("tbody");
  const notice = h("div");
  const more = h("button", { type: "button", hidden: true, on: { click: () => { older = true; load(token); } } },
    "Older records");
  let token = null;
  let older = false;
  let stopped = false;

  const decision = h("select", { id: "a-decision", name: "decision" },
    ["", "allowed", "denied"].map((d) => h("option", { value: d, selected: d === filters.decision }, d || "Any decision")));
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter audit records" },
    FIELDS.map(([key, label]) => h("span", { class: "field" }, h("label", { for: `a-${key}` }, label),
      h("input", { id: `a-${key}`, name: key, value: filters[key], autocomplete: "off", spellcheck: "false" }))),
    h("span", { class: "field" }, h("label", { for: "a-decision" }, "Decision"), decision),
    h("button", { type: "submit" }, "Apply"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const key of Object.keys(filters)) if (form.elements[key].value.trim()) query.set(key, form.elements[key].value.trim());
    location.hash = `#/audit${query.toString() ? `?${query}` : ""}`;
  });
  decision.addEventListener("change", () => form.requestSubmit());

  clear(main, h("div", { class: "title" }, h("h1", { tabindex: "-1" }, "Audit"),
    h("button", { type: "button", on: { click: () => { older = false; load(null); } } }, "Refresh")),
  form, notice,
  h("div", { class: "scroll" }, h("table", { class: "generic audit" },
    h("thead", {}, h("tr", {}, ["Time", "Principal", "Verb", "Resource", "Decision", "Reason", "Status", "Trace"]
      .map((c) => h("th", { scope: "col" }, c)))), tbody)), more);

  async function load(from) {
    try {
      const page = await api("/v1/audit", { ...filters, limit: PAGE, continue: from });
      if (stopped) return;
      if (!from) tbody.replaceChildren();
      clear(notice);
      tbody.append(...(page.items || []).map(row));
      if (!tbody.children.length) clear(notice, h("p", { class: "muted" }, "No audit records match."));
      token = page.continue;
      more.hidden = !token;
    } catch (e) {
      if (e.status < 500) clearInterval(timer);  // refused or malformed: asking again won't change that
      if (!stopped) clear(notice, errorBox(e, e.status === 403 ? "Reading the audit trail needs the audit verb (in this namespace)." : ""));
    }
  }

  // Newest first, refreshed while only the first page is shown (records land a moment after the decision).
  const timer = setInterval(() => { if (!older && document.visibilityState === "visible") load(null); }, REFRESH_MS);
  load(null);
  return { stop() { stopped = true; clearInterval(timer); } };
}

function row(r) {
  const denied = r.decision !== "allowed";
  const where = [r.kind, [r.namespace, r.name].filter(Boolean).join("/")].filter(Boolean).join(" ");
  return h("tr", { "data-testid": "audit-row", "data-decision": r.decision, class: denied ? "troubled" : "" },
    h("td", { "data-label": "Time" }, h("time", { title: isoTime(r.time), datetime: isoTime(r.time) }, `${ago(r.time)} ago`)),
    h("td", { "data-label": "Principal" }, r.principal),
    h("td", { "data-label": "Verb" }, r.verb),
    h("td", { "data-label": "Resource" }, where),
    h("td", { "data-label": "Decision" }, h("span", { class: denied ? "phase phase-failed" : "phase phase-ready" }, r.decision)),
    h("td", { "data-label": "Reason" }, [r.code, r.reason].filter((x, i, all) => x && all.indexOf(x) === i).join(": ")),
    h("td", { "data-label": "Status" }, r.status ?? ""),
    h("td", { "data-label": "Trace" }, r.traceId ? traceRef(r.traceId) : ""));
}
