// Panels for routes other issues add (`GET /v1/controllers`): shown only once the gateway's OpenAPI
// document lists the route, so they light up when it lands, with no 404 probes.

import { api, hasRoute } from "./api.js";
import { clear, errorBox, h } from "./dom.js";
import { humane } from "./format.js";

const REFRESH_MS = 5000;

// Rows of objects as a table, every value humane (instants relative, numbers rounded, lists as ranges).
// `columns`: [key, label] pairs (default: the first rows' keys).
export function genericTable(items, columns = null, testid = null) {
  const keys = columns || [...new Set(items.slice(0, 20).flatMap((item) => Object.keys(item)))].map((k) => [k, k]);
  return h("div", { class: "scroll" }, h("table", { class: "generic compact" },
    h("thead", {}, h("tr", {}, keys.map(([, label]) => h("th", { scope: "col" }, label)))),
    h("tbody", {}, items.map((item) => h("tr", { "data-testid": testid },
      keys.map(([k, label]) => h("td", { "data-label": label }, humane(k, item[k]))))))));
}

const HOSTS = [["hostId", "Host"], ["scope", "Scope"], ["partitions", "Partitions"], ["leaseExpiresAt", "Lease expires"],
  ["lag", "Lag"], ["actors", "Actors"]];

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
        ? genericTable(items.map((i) => ({ ...i, scope: i.scope || "main" })), HOSTS, "controller-row")
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
