// The dashboard shell: login (a token for this tab only), hash routes, navigation.
//   #/                      environment (filters in the query: kind, namespace, labelSelector, phase)
//   #/r/<kind>/<ns>/<name>  one resource (cluster-scoped kinds use the namespace `_cluster`)
//   #/nodes                 the machines agents joined from (the Node kind)
//   #/audit                 audit trail      #/cost   spend (once the gateway has `GET /v1/cost`)

import { api, clearToken, session, setToken } from "./api.js";
import * as audit from "./audit.js";
import { costAvailable, showCost } from "./cost.js";
import { clear, errorBox, h } from "./dom.js";
import * as env from "./env.js";
import * as nodes from "./nodes.js";
import * as resource from "./resource.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const toast = document.getElementById("toast");
let current = null;
let generation = 0;
let toastTimer = null;

function say(text) {
  toast.textContent = text;
  toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { toast.hidden = true; }, 4000);
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query) };
}

async function loadKinds() {
  session.kinds = (await api("/ui/kinds.json")).items;
  session.config = await api("/ui/config.json").catch(() => ({ traceUrl: "" }));
}

function login(message) {
  nav.hidden = true;
  document.getElementById("logout").hidden = true;
  const input = h("input", { id: "token", type: "password", "data-testid": "login-token", autocomplete: "off",
    required: true, "aria-describedby": "token-help" });
  const out = h("div", { role: "alert" }, message ? errorBox({ code: "Signed out", message }) : null);
  const form = h("form", { class: "login panel", "aria-labelledby": "login-h" },
    h("h1", { id: "login-h" }, "Sign in to Bosun"),
    h("label", { for: "token" }, "Bearer token"), input,
    h("p", { id: "token-help", class: "muted" },
      "The admin token is in .bosun/admin.token. It is kept for this browser tab only."),
    h("button", { type: "submit" }, "Sign in"), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setToken(input.value.trim());
    session.probing = true;
    try {
      await loadKinds();
      session.probing = false;
      route();
    } catch (e) {
      session.probing = false;
      clearToken();
      clear(out, errorBox(e, e.status === 401 ? "That token was not accepted." : ""));
    }
  });
  clear(main, form);
  input.focus();
}

async function route() {
  const mine = ++generation;
  if (current) current.stop();
  current = null;
  if (!session.token) return login();
  if (!session.kinds.length) {
    try {
      await loadKinds();
    } catch (e) {
      if (mine === generation && e.status !== 401) clear(main, errorBox(e));  // 401: the login form is up
      return;
    }
  }
  if (mine !== generation) return;
  nav.hidden = false;
  document.getElementById("logout").hidden = false;
  const { parts, params } = parseHash();
  if (parts[0] === "r" && parts.length === 4) current = resource.show(main, parts[1], parts[2], parts[3], say);
  else if (parts[0] === "nodes") current = nodes.show(main);
  else if (parts[0] === "audit") current = audit.show(main, params);
  else if (parts[0] === "cost") current = showCost(main, params);
  else current = env.show(main, params);
  const view = parts[0] === "r" ? "" : parts[0] || "env";
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  main.querySelector("h1")?.focus({ preventScroll: true });
}

session.onUnauthorized = () => {
  clearToken();
  if (current) current.stop();
  current = null;
  login("The gateway no longer accepts this token.");
};

document.getElementById("logout").addEventListener("click", () => {
  clearToken();
  route();
});
document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault();  // the hash is the route: focus the content instead of navigating
  (main.querySelector("h1") || main).focus();
});
window.addEventListener("hashchange", route);
costAvailable().then((present) => { document.getElementById("nav-cost").hidden = !present; });
route();
