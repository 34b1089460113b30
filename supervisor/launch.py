"""Small pieces `bosun up` is built from: private files (token, credentials), how to run `bosun`, health.

Kept apart from `tree.py`, which supervises; these are plain functions the CLI uses too.
"""
from __future__ import annotations

import json
import os
import secrets
import sys
import urllib.error
import urllib.request
from pathlib import Path


def ensure_admin_token(path: Path) -> bool:
    """Create the admin token (mode 0600) unless it exists; True when created. Never printed."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(32) + "\n")
    return True


def write_private_json(path: Path, obj: object) -> None:
    """Write JSON atomically with mode 0600: it holds credentials."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    tmp.replace(path)


def private_data_dir(path: Path) -> None:
    """Make the data directory (0700) and have everything this process creates from now on be private
    (umask 077; children inherit it): it holds every tenant's specs, the audit trail, tokens, credentials."""
    os.umask(0o077)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_uid == os.geteuid():
        os.chmod(path, 0o700)


def bosun_command() -> list[str]:
    """How to run a `bosun` subcommand with this very interpreter."""
    script = Path(sys.executable).parent / "bosun"
    if script.exists():
        return [sys.executable, str(script)]
    return [sys.executable, "-c", "import sys; from cli.main import main; sys.exit(main())"]


def http_url(host: str, port: int) -> str:
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=1.0) as r:
            return bool(r.status == 200)
    except (OSError, urllib.error.URLError, ValueError):
        return False
