// A resource's replicas (`GET …/replicas`: node, pid, port, devices, state, age, last error) and the
// tail of one replica's log (`GET …/replicas/{id}/logs`, asked of the driver that runs it). The log
// panel is offered only when RBAC grants the `logs` verb; it follows the replica while open.

import { api, canI, hasRoute, kindPath } from "./api.js";
import { clear, errorBox, h } from "./dom.js";
import { relative, span } from "./format.js";

const REFRESH_MS = 3000;
const TAILS = [50, 200, 1000];
const COLUMNS = ["Replica", "State", "Node", "PID", "Port", "Devices", "Age", "Last error"];
const STATE_CLASS = { ready: "ready", starting: "progressing", requested: "pending", stopping: "deleting",
  restarting: "degraded", lost: "failed", stopped: "" };

export function replicasPanel(kind, ns, name) {
  const path = `${kindPath(kind, ns, name)}/replicas`;
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const showEnded = h("input", { type: "checkbox", id: "rp-ended" });
  const logs = logPanel(path, [kind, ns === "_cluster" ? "" : ns, name]);
  const el = h("section", { class: "panel", "aria-labelledby": "rp-h", hidden: true },
    h("div", { class: "panel-head" }, h("h2", { id: "rp-h" }, "Replicas"),
      h("label", { class: "check" }, showEnded, " show ended")), body, logs.el);
  let items = [];
  let stopped = false;
  let timer = null;
  showEnded.addEventListener("change", paint);

  async function refresh() {
    try {
      items = (await api(path)).items || [];
      el.hidden = !items.length;  // kinds without replicas (pools, quotas) show no panel
      paint();
      logs.offer(items);
    } catch (e) {
      if (e.status === 404) { el.hidden = true; return; }
      el.hidden = false;
      clear(body, errorBox(e));
    }
    if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
  }

  function paint() {
    const ended = items.filter((r) => ["stopped", "lost"].includes(r.state));
    const live = items.filter((r) => !ended.includes(r));
    const shown = showEnded.checked ? items : live;
    if (!shown.length) {
      clear(body, h("p", { class: "muted" }, ended.length ? `No live replica (${ended.length} ended).` : "No replicas."));
      return;
    }
    clear(body, h("div", { class: "scroll" }, h("table", { class: "generic compact replicas" },
      h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, shown.map(row)))),
    !showEnded.checked && ended.length ? h("p", { class: "muted" }, `${ended.length} ended replica(s) hidden.`) : null);
  }

  hasRoute("/v1/namespaces/{ns}/{kind}/{name}/replicas").then((present) => { if (present && !stopped) refresh(); });
  return { el, stop() { stopped = true; clearTimeout(timer); logs.stop(); } };
}

function row(r) {
  const since = r.startedAt || r.requestedAt;
  const age = since ? span((Date.now() - Date.parse(since)) / 1000) : "—";
  // Unknown cells stay empty (a dash on a wide screen, left out of a phone's card): sim replicas have no process.
  const cells = [r.replica, h("span", { class: `phase phase-${STATE_CLASS[r.state] ?? ""}` }, r.state), r.node || "",
    r.pid ?? "", r.port ?? "", (r.devices || []).join(", "),
    h("time", { datetime: since || "", title: since ? `${r.state === "ready" ? "ready" : "asked"} ${relative(r.readyAt || since)}` : "" }, age),
    r.lastError ? h("span", { class: "reason bad" }, r.lastError) : ""];
  return h("tr", { "data-testid": "replica-row", "data-replica": r.replica, "data-state": r.state,
    "data-pid": r.pid ?? "", class: ["lost", "restarting"].includes(r.state) ? "stuck" : "" },
  cells.map((c, i) => h("td", { "data-label": COLUMNS[i] }, c)));
}

// The log tail of one replica: choose it, choose how many lines; refreshed while shown.
function logPanel(path, [kind, namespace, name]) {
  const pick = h("select", { id: "log-replica", "data-testid": "log-replica" });
  const lines = h("select", { id: "log-lines" }, TAILS.map((n) => h("option", { value: String(n) }, `last ${n}`)));
  const out = h("pre", { class: "code log", "data-testid": "log-tail", tabindex: "0", "aria-label": "Log tail",
    "aria-live": "off" });
  const note = h("div");
  const el = h("details", { class: "logs", hidden: true },
    h("summary", {}, "Log tail"),
    h("div", { class: "filters" }, h("span", { class: "field" }, h("label", { for: "log-replica" }, "Replica"), pick),
      h("span", { class: "field" }, h("label", { for: "log-lines" }, "Lines"), lines)), note, out);
  let allowed = null;
  let timer = null;
  let stopped = false;
  let known = "";

  async function load() {
    clearTimeout(timer);
    if (!el.open || !pick.value || stopped) return;
    try {
      const answer = await api(`${path}/${encodeURIComponent(pick.value)}/logs`, { tail: lines.value });
      const atEnd = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
      out.textContent = answer.lines.length ? answer.lines.join("\n") : "(nothing written yet)";
      if (atEnd) out.scrollTop = out.scrollHeight;
      clear(note, answer.truncated ? h("p", { class: "muted" }, "Older lines are not shown.") : null);
    } catch (e) {
      out.textContent = "";
      clear(note, errorBox(e, e.code === "NoLogs" ? "Simulated replicas have no process and write no log." : ""));
    }
    if (!stopped) timer = setTimeout(load, REFRESH_MS);
  }
  for (const control of [pick, lines]) control.addEventListener("change", load);
  el.addEventListener("toggle", load);

  // Called with every replica listing: the choices follow the replicas that run as processes (live ones
  // first); simulated replicas have no log to show.
  async function offer(listed) {
    const items = listed.filter((r) => r.driver && r.driver !== "sim");
    if (!items.length) {
      el.hidden = true;
      return;
    }
    if (allowed === null) allowed = (await canI([{ verb: "logs", kind, namespace, name }]))[0].allowed;
    el.hidden = !allowed;
    const ids = items.map((r) => r.replica);
    if (ids.join() === known) return;
    known = ids.join();
    const keep = pick.value;
    pick.replaceChildren(...items.map((r) => h("option", { value: r.replica }, `${r.replica} (${r.state})`)));
    if (ids.includes(keep)) pick.value = keep;
  }

  return { el, offer, stop() { stopped = true; clearTimeout(timer); } };
}
