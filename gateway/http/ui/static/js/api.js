// The public /v1 API with the tab's token. The token lives in sessionStorage: this tab only, gone
// when it closes. Every call carries it as `Authorization: Bearer`, so the page gets exactly the
// answers (and refusals) the API gives that Principal.

const KEY = "bosun.token";

export const session = {
  token: sessionStorage.getItem(KEY),
  kinds: [],
  config: { traceUrl: "" },  // /ui/config.json: where trace ids link to
  probing: false,  // true while the login form tries a token: a 401 then means "wrong token", not "signed out"
  onUnauthorized: () => {},
};

export function setToken(token) {
  session.token = token;
  sessionStorage.setItem(KEY, token);
}

export function clearToken() {
  session.token = null;
  session.kinds = [];
  sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || `HTTP ${status}`;
    this.details = error.details || [];
  }
}

export function url(path, params = {}) {
  const u = new URL(path, location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") u.searchParams.set(key, value);
  }
  return u;
}

function headers(extra = {}) {
  return { Authorization: `Bearer ${session.token}`, ...extra };
}

// The API's `{error: {code, message, details}}` as an ApiError (a 401 also ends the session).
export async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (response.status === 401 && !session.probing) session.onUnauthorized();
  return new ApiError(response.status, body);
}

export async function api(path, params = {}, signal = undefined) {
  const response = await fetch(url(path, params), { headers: headers({ Accept: "application/json" }), signal });
  if (!response.ok) throw await failure(response);
  return response.json();
}

// A write (PUT, DELETE, POST) with a JSON body; answers the parsed reply, throws ApiError like `api`.
export async function send(method, path, body = undefined, extra = {}) {
  const init = { method, headers: headers({ Accept: "application/json", ...extra }) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(url(path), init);
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

// May this token do these things? `POST /v1/access/review` (RBAC's answer for the caller itself):
// checks [{verb, kind, namespace, name}] -> the same list with `allowed`. A gateway without the route
// answers "no" to everything, so nothing is offered that might be refused.
export async function canI(checks) {
  if (!(await hasRoute("/v1/access/review"))) return checks.map((c) => ({ ...c, allowed: false }));
  try {
    const answer = await send("POST", "/v1/access/review", { checks });
    return answer.results;
  } catch {
    return checks.map((c) => ({ ...c, allowed: false }));
  }
}

// Public, unauthenticated: which routes this gateway has (panels for routes still being built stay
// hidden until the route exists, without probing them for 404s).
let routes = null;
export async function hasRoute(path) {
  if (routes === null) {
    routes = fetch("/openapi.json").then((r) => (r.ok ? r.json() : {})).then((doc) => doc.paths || {})
      .catch(() => ({}));
  }
  return path in (await routes);
}

export const kindPath = (kind, ns, name) =>
  `/v1/namespaces/${encodeURIComponent(ns)}/${encodeURIComponent(kind)}/${encodeURIComponent(name)}`;
