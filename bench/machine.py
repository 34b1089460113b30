"""What the numbers were measured on: every scenario prints it, since these machines are noisy."""
from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import version
from typing import Any

from core import natsserver


def info() -> dict[str, Any]:
    server = subprocess.run([natsserver.binary(), "--version"], capture_output=True, text=True,
                            check=False).stdout.strip()
    return {"cores": os.cpu_count(), "python": platform.python_version(), "nats_server": server,
            "nats_py": version("nats-py"), "platform": platform.platform()}
