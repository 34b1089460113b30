#!/usr/bin/env python3
"""A stand-in model server for the `process` driver (stdlib only): what a real one would expose.

Listens on 127.0.0.1:$BOSUN_PORT and answers
  GET /healthz  200 once "loaded" (after $STARTUP_DELAY seconds, default 0); 503 while the file
                $HEALTH_FILE (if set) says "fail"
  GET /load     the load it serves, in requests per second (a number): $LOAD_RPS, or the contents of
                the file $LOAD_FILE (so a demo or a test can change it while it runs)
  GET /         which replica this is, its model and its GPUs
SIGTERM makes it exit cleanly (exit 0).
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STARTED = time.monotonic()


def load() -> float:
    path = os.environ.get("LOAD_FILE")
    if path:
        try:
            with open(path) as f:
                return float(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0.0
    return float(os.environ.get("LOAD_RPS", "0"))


def healthy() -> bool:
    path = os.environ.get("HEALTH_FILE")
    if not path:
        return True
    try:
        with open(path) as f:
            return f.read().strip() != "fail"
    except OSError:
        return True


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            ready = time.monotonic() - STARTED >= float(os.environ.get("STARTUP_DELAY", "0")) and healthy()
            self._send(200 if ready else 503, "ok\n" if ready else "loading\n")
        elif self.path == "/load":
            self._send(200, f"{load()}\n")
        else:
            self._send(200, json.dumps({"replica": os.environ.get("BOSUN_REPLICA"),
                                        "model": os.environ.get("BOSUN_MODEL"),
                                        "gpus": os.environ.get("CUDA_VISIBLE_DEVICES")}) + "\n")

    def _send(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    port = int(os.environ["BOSUN_PORT"])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"{os.environ.get('BOSUN_REPLICA')} serving {os.environ.get('BOSUN_MODEL')} on port {port}"
          f" with GPUs [{os.environ.get('CUDA_VISIBLE_DEVICES', '')}]", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
