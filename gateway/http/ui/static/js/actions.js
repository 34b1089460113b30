// Actions on one resource: scale, retry, delete. Each is the public API with the tab's token, offered only
// when RBAC says this token may do it (`POST /v1/access/review`), and done only after a confirmation in a
// modal dialog (delete asks for the name to be typed). The server still decides: a refusal is shown.

import { canI, kindPath, send } from "./api.js";
import { clear, errorBox, h } from "./dom.js";

// The action bar for `kind ns/name`; `current()` gives the object as last loaded (for scale and retry);
// `done()` after an accepted action (the view reloads: a retry changes no object, so no watch event says so).
export function actionBar(kind, ns, name, current, say, done = () => {}) {
  const path = kindPath(kind, ns, name);
  const bar = h("div", { class: "actions", "data-testid": "actions", role: "group", "aria-label": "Actions" });
  const dialog = h("dialog", { class: "confirm", "aria-labelledby": "confirm-h" });
  bar.append(dialog);
  const namespace = ns === "_cluster" ? "" : ns;
  canI([{ verb: "apply", kind, namespace, name }, { verb: "delete", kind, namespace, name }]).then(([apply, del]) => {
    const buttons = [];
    if (apply.allowed) {
      buttons.push(button("scale", "Scale…", () => scale()));
      buttons.push(button("retry", "Retry", () => retry()));
    }
    if (del.allowed) buttons.push(button("delete", "Delete…", () => remove(), "danger"));
    bar.prepend(...buttons);
    bar.dataset.ready = "yes";  // the answer is in: what is not here is not allowed
    refresh();
  });

  function button(action, label, onClick, cls = "") {
    return h("button", { type: "button", class: ["action", cls], "data-action": action, on: { click: onClick } }, label);
  }

  // Scale only for objects with `spec.replicas`; retry once something is wrong (it lifts a quarantine).
  function refresh() {
    const obj = current();
    const scaleButton = bar.querySelector("[data-action=scale]");
    if (scaleButton) scaleButton.hidden = !obj || typeof (obj.spec || {}).replicas !== "number";
    const retryButton = bar.querySelector("[data-action=retry]");
    if (retryButton) retryButton.hidden = !obj || (obj.status || {}).phase === "Ready";
  }

  // A modal with `body`, Cancel and a confirm button; resolves with true once confirmed (and `check` holds).
  function confirm(title, body, label, check = () => true) {
    const out = h("div", { role: "alert" });
    const ok = h("button", { type: "submit", class: "danger-ok", "data-testid": "confirm" }, label);
    const form = h("form", { method: "dialog" }, h("h2", { id: "confirm-h" }, title), body, out,
      h("div", { class: "buttons" },
        h("button", { type: "button", "data-testid": "cancel", on: { click: () => dialog.close("cancel") } }, "Cancel"), ok));
    clear(dialog, form);
    return new Promise((resolve) => {
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const problem = check();
        if (problem !== true) {
          clear(out, h("p", { class: "reason bad" }, problem));
          return;
        }
        dialog.close("ok");
      });
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
      dialog.returnValue = "";
      dialog.showModal();
      form.querySelector("input")?.focus();
    });
  }

  async function run(what, fn) {
    try {
      await fn();
      say(`${what}: accepted`);
      done();
    } catch (e) {
      say(`${what} refused: ${e.code} ${e.message}`);
      bar.append(errorBox(e));
    }
  }

  async function scale() {
    const obj = current();
    const now = obj.spec.replicas;
    const input = h("input", { type: "number", min: "0", max: "10000", step: "1", value: String(now), id: "scale-to",
      "data-testid": "scale-to", required: true });
    const auto = obj.spec.autoscaling ? h("p", { class: "muted" },
      `Autoscaling keeps it between ${obj.spec.autoscaling.min} and ${obj.spec.autoscaling.max}.`) : null;
    const body = [h("p", {}, `${kind} ${name} runs ${now} replica(s).`), auto,
      h("label", { for: "scale-to" }, "Replicas"), input];
    const valid = () => (/^\d+$/.test(input.value) && Number(input.value) <= 10000 ? true : "A whole number from 0 to 10000.");
    if (!(await confirm(`Scale ${name}`, body, "Scale", valid))) return;
    const to = Number(input.value);
    const manifest = { kind: obj.kind, metadata: { name, namespace: obj.metadata.namespace, labels: obj.metadata.labels || {} },
      spec: { ...obj.spec, replicas: to } };
    await run(`Scale ${name} to ${to}`, () => send("PUT", path, manifest, { "If-Match": String(obj.metadata.resourceVersion) }));
  }

  async function retry() {
    const body = h("p", {}, `Lift ${name}'s quarantine or failure and have it decide again (nothing in its spec changes).`);
    if (!(await confirm(`Retry ${name}`, body, "Retry"))) return;
    await run(`Retry ${name}`, () => send("POST", `${path}/retry`));
  }

  async function remove() {
    const input = h("input", { id: "delete-name", "data-testid": "delete-name", autocomplete: "off", spellcheck: "false" });
    const body = [h("p", {}, `Delete ${kind} ${name}? Its replicas are stopped; its history stays.`),
      h("label", { for: "delete-name" }, `Type ${name} to confirm`), input];
    const typed = () => (input.value.trim() === name ? true : `Type ${name} exactly.`);
    if (!(await confirm(`Delete ${name}`, body, "Delete", typed))) return;
    await run(`Delete ${name}`, () => send("DELETE", path));
  }

  return { el: bar, refresh };
}
