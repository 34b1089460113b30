// Panels for routes other issues are adding (`GET /v1/controllers`, `GET /v1/cost`): shown only once
// the gateway's OpenAPI document lists the route, so they light up when it lands, with no 404 probes.

import { api, hasRoute } from "./api.js";
import { clear, errorBox, h, show } from "./dom.js";

const REFRESH_MS = 5000;

// Rows of objects as a table; nested values as compact JSON, columns from the first rows' keys.
export function genericTable(items, columns = null, testid = null) {
  const keys = columns || [...new Set(items.slice(0, 20).flatMap((item) => Object.keys(item)))];
  return h("div", { class: "scroll" }, h("table", { class: "generic" },
    h("thead", {}, h("tr", {}, keys.map((k) => h("th", { scope: "col" }, k)))),
    h("tbody", {}, items.map((item) => h("tr", { "data-testid": testid },
      keys.map((k) => h("td", { "data-label": k }, show(item[k]))))))));
}

// Controller hosts and the partitions each owns (issue "cluster"), refreshed while shown.
export function controllersPanel() {
  const body = h("div");
  const el = h("section", { class: "panel", hidden: true, "aria-labelledby": "controllers-h" },
    h("h2", { id: "controllers-h" }, "Controller hosts"), body);
  let timer = null;
  let stopped = false;
  async function refresh() {
    try {
      const answer = await api("/v1/controllers");
      const items = answer.items || [];
      clear(body, items.length
        ? genericTable(items, ["hostId", "partitions", "leaseExpiresAt", "lag", "actors"], "controller-row")
        : h("p", { class: "muted" }, "No controller host holds a lease."));
    } catch (e) {
      // listed but not answering (404), or not this principal's to see (401/403): stay out of the way
      if ([401, 403, 404].includes(e.status)) { el.hidden = true; return; }
      clear(body, errorBox(e));
    }
    if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
  }
  hasRoute("/v1/controllers").then((present) => {
    if (!present || stopped) return;
    el.hidden = false;
    refresh();
  });
  return { el, stop() { stopped = true; clearTimeout(timer); } };
}

export async function costAvailable() {
  return hasRoute("/v1/cost");
}

// Spend per namespace and deployment (issue "cost"): whatever `GET /v1/cost` answers, as tables.
export function showCost(main, params) {
  const namespace = params.get("namespace") || "";
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const input = h("input", { id: "cost-ns", name: "namespace", value: namespace, placeholder: "all", autocomplete: "off" });
  const form = h("form", { class: "filters", role: "search" }, h("span", { class: "field" }, h("label", { for: "cost-ns" }, "Namespace"), input),
    h("button", { type: "submit" }, "Show"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = `#/cost${input.value.trim() ? `?namespace=${encodeURIComponent(input.value.trim())}` : ""}`;
  });
  clear(main, h("div", { class: "title" }, h("h1", { tabindex: "-1" }, "Cost")), form, body);
  costAvailable().then(async (present) => {
    if (!present) { clear(body, h("p", { class: "muted" }, "This gateway has no cost route yet.")); return; }
    try {
      clear(body, costTables(await api("/v1/cost", { namespace })));
    } catch (e) {
      clear(body, e.status === 404 && !namespace ? h("p", { class: "muted" }, "No cost route answers yet.") : errorBox(e));
    }
  });
  return { stop() {} };
}

function costTables(answer) {
  const parts = [];
  for (const [key, value] of Object.entries(answer || {})) {
    if (Array.isArray(value) && value.length && typeof value[0] === "object") {
      parts.push(h("h2", {}, key), genericTable(value, null, "cost-row"));
    } else if (!Array.isArray(value)) {
      parts.push(h("p", {}, h("b", {}, `${key}: `), show(value)));
    }
  }
  return parts.length ? parts : h("p", { class: "muted" }, "No cost recorded yet.");
}
