// `GET /v1/watch` as Server-Sent Events, read with fetch so the request carries the Authorization
// header like every other call (EventSource can't send headers, and a token in the URL would end up
// in logs and history). On a dropped connection it reconnects after a pause and starts over from a
// fresh listing (`onReset`), so a deletion missed while away can never linger on the page.

import { failure, session, url } from "./api.js";

const RETRY_MS = 1000;
const open = new Set();
// Leaving the page ends its streams first: a stream the browser cuts off at unload is kept (drained) for a
// while and holds one of the six connections per host, so a reload could wait for a free one.
window.addEventListener("pagehide", () => { for (const c of open) c.abort(); });

// `query`: the watch filters (kind, namespace, labelSelector, phase, resourceVersion). Handlers:
// onEvent(type, seq, object), onReset() before a reconnect's fresh listing, onState({live, error}).
export function watch(query, handlers) {
  const { onEvent, onReset = () => {}, onState = () => {} } = handlers;
  const controller = new AbortController();
  open.add(controller);
  let closed = false;

  async function once(target) {
    const headers = { Authorization: `Bearer ${session.token}`, Accept: "text/event-stream" };
    const response = await fetch(target, { headers, signal: controller.signal });
    if (!response.ok) return failure(response);
    onState({ live: true });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return null;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        dispatch(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
      }
    }
  }

  function dispatch(block) {
    let type = "message";
    let id = null;
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") type = value;
      else if (field === "id") id = value;
      else if (field === "data") data.push(value);
    }
    if (data.length) onEvent(type, id === null ? null : Number(id), JSON.parse(data.join("\n")));
  }

  async function run() {
    let target = url("/v1/watch", query);
    while (!closed) {
      try {
        const refused = await once(target);
        if (refused) {
          onState({ live: false, error: refused });
          if (refused.status < 500) return;  // 401/403/404: retrying won't help
        }
      } catch (e) {
        if (closed || e.name === "AbortError") return;
      }
      if (closed) return;
      onState({ live: false });
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      if (closed) return;
      onReset();
      target = url("/v1/watch", { ...query, resourceVersion: null });
    }
  }

  run();
  return {
    close() {
      closed = true;
      open.delete(controller);
      controller.abort();
    },
  };
}
