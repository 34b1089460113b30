// #/cost: what GPUs cost, per namespace and deployment (`GET /v1/cost`), as a table, and the spend over
// time (`GET /v1/cost/series`) as a chart. Refreshed while shown: running replicas keep costing.

import { api, hasRoute } from "./api.js";
import { lineChart } from "./chart.js";
import { clear, errorBox, h } from "./dom.js";
import { money, num } from "./format.js";

const REFRESH_MS = 10000;
const WINDOWS = [["", "Since the start"], ["3600", "Last hour"], ["86400", "Last day"], ["604800", "Last week"]];
const COLUMNS = ["Namespace", "Deployment", "Replicas", "GPUs", "Spend rate", "GPU-hours", "Cost"];

export async function costAvailable() {
  return hasRoute("/v1/cost");
}

export function showCost(main, params) {
  const namespace = params.get("namespace") || "";
  const window = params.get("window") || "";
  const table = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const chart = h("div");
  const input = h("input", { id: "cost-ns", name: "namespace", value: namespace, placeholder: "all", autocomplete: "off" });
  const span = h("select", { id: "cost-window", name: "window" },
    WINDOWS.map(([value, label]) => h("option", { value, selected: value === window }, label)));
  const form = h("form", { class: "filters", role: "search", "aria-label": "Cost filters" },
    h("span", { class: "field" }, h("label", { for: "cost-ns" }, "Namespace"), input),
    h("span", { class: "field" }, h("label", { for: "cost-window" }, "Chart"), span),
    h("button", { type: "submit" }, "Show"));
  const go = () => {
    const query = new URLSearchParams(Object.entries({ namespace: input.value.trim(), window: span.value })
      .filter(([, v]) => v));
    location.hash = `#/cost${query.toString() ? `?${query}` : ""}`;
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); go(); });
  span.addEventListener("change", go);
  clear(main, h("div", { class: "title" }, h("h1", { tabindex: "-1" }, "Cost")), form,
    h("section", { class: "panel", "aria-label": "Spend over time" }, chart), table);

  let stopped = false;
  let timer = null;
  async function refresh() {
    if (!(await costAvailable())) {
      clear(table, h("p", { class: "muted" }, "This gateway has no cost route yet."));
      return;
    }
    const [now, over] = await Promise.allSettled([
      api("/v1/cost", { namespace }),
      hasRoute("/v1/cost/series").then((ok) => (ok ? api("/v1/cost/series", { namespace, window, points: 60 }) : null)),
    ]);
    if (stopped) return;
    clear(table, now.status === "fulfilled" ? costTable(now.value.items || []) : errorBox(now.reason));
    if (over.status === "fulfilled" && over.value) clear(chart, spendCharts(over.value.items || []));
    else if (over.status === "rejected") clear(chart, errorBox(over.reason));
    if (now.status === "fulfilled" || now.reason.status >= 500) timer = setTimeout(refresh, REFRESH_MS);
  }
  refresh();
  return { stop() { stopped = true; clearTimeout(timer); } };
}

// One row per deployment (`cost-row`), most expensive first, with a total per namespace.
function costTable(spaces) {
  if (!spaces.length) return h("p", { class: "muted" }, "No cost recorded yet.");
  const body = [];
  for (const space of [...spaces].sort((a, b) => b.cost - a.cost || a.namespace.localeCompare(b.namespace))) {
    const deps = [...(space.deployments || [])].sort((a, b) => b.cost - a.cost || a.name.localeCompare(b.name));
    for (const d of deps) body.push(row({ namespace: space.namespace, ...d }, false));
    if (deps.length > 1) {
      body.push(row({ namespace: space.namespace, name: "all deployments",
        replicas: deps.reduce((n, d) => n + d.replicas, 0), gpus: deps.reduce((n, d) => n + d.gpus, 0),
        costPerHour: space.costPerHour, gpuHours: space.gpuHours, cost: space.cost }, true));
    }
  }
  const total = spaces.reduce((t, s) => ({ rate: t.rate + s.costPerHour, cost: t.cost + s.cost }), { rate: 0, cost: 0 });
  return [
    h("p", { class: "totals" }, "Spending ", h("b", { "data-testid": "cost-rate" }, `${money(total.rate)}/h`),
      " now; ", h("b", {}, money(total.cost)), " so far."),
    h("div", { class: "scroll" }, h("table", { class: "generic compact cost" },
      h("thead", {}, h("tr", {}, COLUMNS.map((c, i) => h("th", { scope: "col", class: i >= 2 ? "n" : "" }, c)))),
      h("tbody", {}, body))),
  ];
}

function row(d, subtotal) {
  const name = d.kind && d.kind !== "modeldeployment" ? `${d.kind}/${d.name}` : d.name;
  const cells = [d.namespace, name, num(d.replicas, 0), num(d.gpus, 0), `${money(d.costPerHour)}/h`,
    num(d.gpuHours, 2), money(d.cost)];
  return h("tr", { "data-testid": subtotal ? "cost-subtotal" : "cost-row", class: subtotal ? "subtotal" : "",
    "data-namespace": d.namespace, "data-name": d.name },
  cells.map((text, i) => h("td", { "data-label": COLUMNS[i], class: i >= 2 ? "n" : "" }, text)));
}

function spendCharts(points) {
  const at = (p) => p.at * 1000;
  return h("div", { class: "charts" },
    lineChart({ title: "Spend rate", testid: "spend-chart", format: (v) => `${money(v)}/h`,
      series: [{ label: "$/h", cls: "s1", step: true, points: points.map((p) => [at(p), p.costPerHour]) }] }),
    lineChart({ title: "GPUs in use", format: (v) => num(v, 0),
      series: [{ label: "GPUs", cls: "s2", step: true, points: points.map((p) => [at(p), p.gpus]) }] }),
    lineChart({ title: "Accumulated cost", format: money,
      series: [{ label: "cost", cls: "s3", points: points.map((p) => [at(p), p.cost]) }] }));
}
