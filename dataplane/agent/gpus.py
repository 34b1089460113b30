"""What GPUs a node offers: declared (`--gpus N` or `--gpus 0,1,…`) or discovered through NVML (`auto`).

NVML comes from `nvidia-ml-py` (module `pynvml`), imported only for `auto`: without it, or without the
driver's library, the node joins with no GPU and says why (`Found.note`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from core.nodes import Device

_ID = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_:]*$")
MAX_DEVICES = 1024


@dataclass(frozen=True)
class Found:
    devices: tuple[Device, ...]
    labels: dict[str, str] = field(default_factory=dict)
    note: str = ""


def declared(text: str) -> Found:
    """`N` (devices 0..N-1) or a comma-separated list of ids; raises ValueError on anything else."""
    text = text.strip()
    if text.isdigit():
        n = int(text)
        if n > MAX_DEVICES:
            raise ValueError(f"at most {MAX_DEVICES} GPUs")
        return Found(tuple(Device(id=str(i)) for i in range(n)))
    ids = [p.strip() for p in text.split(",")]
    if not ids or any(not _ID.match(i) or len(i) > 64 for i in ids):
        raise ValueError(f"expected auto, a count or comma-separated device ids, got {text!r}")
    if len(set(ids)) != len(ids):
        raise ValueError("device ids must be unique")
    return Found(tuple(Device(id=i) for i in ids))


def discover() -> Found:
    """The machine's GPUs through NVML; none (with the reason) when NVML is not there."""
    try:
        import pynvml  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return Found((), note="NVML unavailable: nvidia-ml-py is not installed (pip install 'bosun[nvidia]')")
    try:
        pynvml.nvmlInit()
    except Exception as e:  # noqa: BLE001 - NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return Found((), note=f"NVML unavailable: {e}")
    try:
        devices = tuple(_device(pynvml, i) for i in range(pynvml.nvmlDeviceGetCount()))
    finally:
        pynvml.nvmlShutdown()
    return Found(devices, labels(devices))


def _device(nvml: Any, index: int) -> Device:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    name = nvml.nvmlDeviceGetName(handle)
    uuid = nvml.nvmlDeviceGetUUID(handle)
    memory = nvml.nvmlDeviceGetMemoryInfo(handle).total
    return Device(id=str(index), uuid=_text(uuid)[:128], model=_text(name)[:128], memory_mib=int(memory) >> 20)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def labels(devices: tuple[Device, ...]) -> dict[str, str]:
    """`gpu=h100`, `gpuMemory=80Gi` from the first device's model and memory (pure)."""
    if not devices:
        return {}
    first = devices[0]
    out: dict[str, str] = {}
    model = first.model.lower().replace("nvidia", "").strip()
    short = re.findall(r"[a-z]+\d+[a-z]*", model)
    if short or model:
        out["gpu"] = re.sub(r"[^a-z0-9]+", "-", short[0] if short else model).strip("-")[:63]
    if first.memory_mib:
        out["gpuMemory"] = f"{round(first.memory_mib / 1024)}Gi"
    return {k: v for k, v in out.items() if v}
