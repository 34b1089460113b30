// Small line charts as inline SVG, drawn from data the page already has (no library: a polyline per
// series). The plot stretches to its box; the axis labels are HTML beside it, so they stay readable at
// any width. Step series hold their value until the next point (a replica count does not slide).

import { h } from "./dom.js";
import { relative } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 1000;
const H = 100;

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

// series: [{label, cls, points: [[epochMillis, value], ...], step, dash}]; format(value) labels the y axis.
// Returns a <figure>; `testid` marks it for tests. Empty series draw a "no data" note instead.
export function lineChart({ title, series, format = String, testid = null, min = 0 }) {
  const all = series.flatMap((s) => s.points);
  const fig = h("figure", { class: "chart", "data-testid": testid });
  const legend = h("span", { class: "legend" }, series.map((s) => h("span", { class: `key ${s.cls}` }, s.label)));
  fig.append(h("figcaption", {}, h("b", {}, title), " ", legend));
  if (all.length < 2) {
    fig.append(h("p", { class: "muted" }, "Not enough history yet."));
    return fig;
  }
  const t0 = Math.min(...all.map((p) => p[0]));
  const t1 = Math.max(...all.map((p) => p[0]), t0 + 1);
  const lo = Math.min(min, ...all.map((p) => p[1]));
  const hi = Math.max(lo + 1e-9, ...all.map((p) => p[1]));
  const x = (t) => ((t - t0) / (t1 - t0)) * W;
  const y = (v) => H - 2 - ((v - lo) / (hi - lo)) * (H - 4);
  const plot = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img",
    "aria-label": `${title}: ${series.map((s) => `${s.label} ${s.points.length ? format(s.points.at(-1)[1]) : "—"} now`).join(", ")}` });
  plot.append(svg("line", { x1: 0, y1: H - 1, x2: W, y2: H - 1, class: "axis" }));
  for (const s of series) {
    if (!s.points.length) continue;
    const coords = [];
    s.points.forEach(([t, v], i) => {
      if (s.step && i > 0) coords.push(`${x(t).toFixed(1)},${y(s.points[i - 1][1]).toFixed(1)}`);
      coords.push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`);
    });
    plot.append(svg("polyline", { points: coords.join(" "), class: `line ${s.cls}${s.dash ? " dash" : ""}`, fill: "none",
      "vector-effect": "non-scaling-stroke" }));
  }
  fig.append(h("div", { class: "plot" },
    h("div", { class: "yaxis", "aria-hidden": "true" }, h("span", {}, format(hi)), h("span", {}, format(lo))), plot),
  h("div", { class: "xaxis", "aria-hidden": "true" }, h("span", {}, relative(t0 / 1000)), h("span", {}, relative(t1 / 1000))));
  return fig;
}

// Points of `value(entry)` over a timeline (entries oldest first, `time` RFC 3339), extended to now
// with the last value: what a status field was over time.
export function track(entries, value, now = Date.now()) {
  const points = [];
  for (const e of entries) {
    const v = value(e);
    if (typeof v === "number" && Number.isFinite(v)) points.push([Date.parse(e.time), v]);
  }
  if (points.length) points.push([Math.max(now, points.at(-1)[0]), points.at(-1)[1]]);
  return points;
}
