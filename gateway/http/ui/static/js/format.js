// Humane numbers and times: what a person reads instead of `1796638403.5053315` or `0.0036136555009418066`.
// Every value the page shows from the API goes through `humane` (or one of these), never raw.

const UNITS = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
const EPOCH_MIN = 946684800;  // 2000-01-01: a number above this under a time-ish key is an instant
const EPOCH_MAX = 4102444800;  // 2100-01-01
const TIME_KEY = /(^at|At|Time|^time|expires|Expires|^since|Since)$/;

// Milliseconds since the epoch of an RFC 3339 string or epoch seconds; NaN when it is neither.
export function millis(when) {
  if (typeof when === "number") return when * 1000;
  if (typeof when === "string" && when) return Date.parse(when);
  return NaN;
}

// "45s", "12m", "3h", "4d": a span of seconds, coarse like `bosun get`'s AGE column.
export function span(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  for (const [unit, size] of UNITS) if (s >= size || unit === "s") return `${Math.floor(s / size)}${unit}`;
  return "";
}

// "3m ago" / "in 12s" / "just now" for an instant (RFC 3339 or epoch seconds).
export function relative(when, now = Date.now()) {
  const t = millis(when);
  if (!Number.isFinite(t)) return "";
  const delta = (t - now) / 1000;
  if (Math.abs(delta) < 1) return "just now";
  return delta > 0 ? `in ${span(delta)}` : `${span(-delta)} ago`;
}

// A count or amount with at most `digits` decimals, grouped (12,345.68), no trailing zeros.
export function num(value, digits = 2) {
  if (typeof value !== "number" || !Number.isFinite(value)) return value === null || value === undefined ? "—" : String(value);
  const abs = Math.abs(value);
  const places = abs !== 0 && abs < 1 ? Math.max(digits, Math.min(4, 1 - Math.floor(Math.log10(abs)))) : digits;
  return value.toLocaleString("en-US", { maximumFractionDigits: places });
}

export function money(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "—";
  const abs = Math.abs(value);
  const digits = abs === 0 || abs >= 1 ? 2 : abs >= 0.01 ? 3 : 4;
  return `$${value.toLocaleString("en-US", { minimumFractionDigits: Math.min(2, digits), maximumFractionDigits: digits })}`;
}

// "0–3, 7, 9–15": a list of integers (partitions) as ranges.
export function ranges(list) {
  const sorted = [...new Set(list)].filter(Number.isInteger).sort((a, b) => a - b);
  const out = [];
  for (let i = 0; i < sorted.length; i++) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    out.push(j > i ? `${sorted[i]}–${sorted[j]}` : String(sorted[i]));
    i = j;
  }
  return out.join(", ");
}

export function isInstant(key, value) {
  return TIME_KEY.test(key) && ((typeof value === "number" && value > EPOCH_MIN && value < EPOCH_MAX)
    || (typeof value === "string" && /^\d{4}-\d\d-\d\dT/.test(value)));
}

// Any API value as text for a table cell: instants relative, numbers humane, lists and objects compact.
export function humane(key, value) {
  if (value === undefined || value === null || value === "") return "—";
  if (isInstant(key, value)) return relative(value);
  if (typeof value === "number") return num(value);
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    if (value.every(Number.isInteger) && value.length > 2) return ranges(value);
    return value.map((v) => humane(key, v)).join(", ");
  }
  return Object.entries(value).map(([k, v]) => `${k}=${humane(k, v)}`).join(", ");
}

// An API object as pretty JSON for reading, with instants and long floats made humane in place.
export function readable(value, key = "") {
  if (Array.isArray(value)) return value.map((v) => readable(v, key));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, readable(v, k)]));
  }
  if (typeof value === "number" && isInstant(key, value)) return `${new Date(value * 1000).toISOString()} (${relative(value)})`;
  if (typeof value === "number" && !Number.isInteger(value)) {
    return Number(Math.abs(value) >= 1 ? value.toFixed(4) : value.toPrecision(4));
  }
  return value;
}
