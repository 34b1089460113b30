// Tiny DOM helpers. Text always goes in as text nodes (never innerHTML), so nothing from the API can
// inject markup.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "on") {
      for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
    } else if (key === "class") {
      el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    } else if (key in el && typeof value !== "string") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const UNITS = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];

// "3m", "2h", "4d": the age of an RFC 3339 time (or epoch seconds), like `bosun get`.
export function ago(when, now = Date.now()) {
  const t = typeof when === "number" ? when * 1000 : Date.parse(when);
  if (!Number.isFinite(t)) return "";
  const seconds = Math.max(0, Math.floor((now - t) / 1000));
  for (const [unit, size] of UNITS) {
    if (seconds >= size || unit === "s") return `${Math.floor(seconds / size)}${unit}`;
  }
  return "";
}

export function isoTime(when) {
  const t = typeof when === "number" ? when * 1000 : Date.parse(when);
  return Number.isFinite(t) ? new Date(t).toISOString() : "";
}

// A JSON value as compact, readable text (strings unquoted).
export function show(value) {
  if (value === undefined) return "—";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

export function pretty(value) {
  return JSON.stringify(value ?? {}, null, 2);
}

export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

export function errorBox(error, hint) {
  return h("div", { class: "error", role: "alert" },
    h("strong", {}, error.code || "Error"), " ", error.message || String(error),
    hint ? h("div", { class: "hint" }, hint) : null);
}
