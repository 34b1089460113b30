"""`BOSUN_KINDS=examples.kinds.notebook bosun up`, as a user runs it (the Notebook in a controller process of
its own): a Quota of 1 GPU refuses the second Notebook, its spend shows in `bosun cost`, a refused request is
retried and says so, and deleting it returns the pool to 0 allocated."""
from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bosun import BosunError, Client
from tests.integration.test_up_support import BOSUN, Up, wait_for

ROOT = Path(__file__).parents[2]
DEADLINE = 60.0
POOL = {"kind": "GpuPool", "metadata": {"name": "p", "namespace": "infra"},
        "spec": {"region": "us-west-2", "gpu": "a100", "capacity": 1, "pricePerGpuHour": 2.0, "namespaces": ["*"]}}
QUOTA = {"kind": "Quota", "metadata": {"name": "one-gpu", "namespace": "team-b"}, "spec": {"limits": {"gpus": 1}}}

pytestmark = pytest.mark.timeout(300)


def notebook(name: str, ns: str = "team-a") -> dict[str, Any]:
    return {"kind": "Notebook", "metadata": {"name": name, "namespace": ns},
            "spec": {"image": "jupyter", "pool": "infra/p"}}


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BOSUN_KINDS", "examples.kinds.notebook")
        mp.setenv("PYTHONPATH", str(ROOT))
        up = Up(tmp_path_factory.mktemp("notebooks") / "data", "--latency", "0.02").start(timeout=120)
        try:
            yield up
        finally:
            up.stop()


def status(c: Client, name: str, ns: str = "team-a") -> dict[str, Any] | None:
    try:
        return c.get("Notebook", name, namespace=ns)["status"]  # type: ignore[no-any-return]
    except BosunError:
        return None


def allocated(c: Client) -> int | None:
    return (c.get("GpuPool", "p", namespace="infra")["status"] or {}).get("allocatedGpus")


def test_notebooks_are_governed_billed_retried_and_give_their_gpu_back(plane: Up) -> None:
    with Client.local(plane.data) as c:
        c.apply(POOL)
        c.apply(QUOTA)
        c.apply(notebook("one", "team-b"))
        with pytest.raises(BosunError) as refused:  # 1 GPU is all the Quota allows
            c.apply(notebook("two", "team-b"))
        assert refused.value.code == "QuotaExceeded"
        wait_for(lambda: (status(c, "one", "team-b") or {}).get("phase") == "Ready", DEADLINE, "one Ready")

        shown = subprocess.run([BOSUN, "--data", str(plane.data), "cost", "-n", "team-b"], capture_output=True,
                               text=True, timeout=30, check=False)
        assert shown.returncode == 0, shown.stderr
        assert re.search(r"team-b\s+one\s+1\s+1\s+2\.00", shown.stdout), shown.stdout

        c.apply(notebook("three"))  # the pool's one GPU is taken: refused, retried, and said so

        def retrying() -> bool:
            s = status(c, "three") or {}
            ready = next((x for x in s.get("conditions", []) if x["type"] == "Ready"), {})
            return s.get("phase") == "Pending" and "needs 1 more GPU, 0 free; retry" in ready.get("message", "")

        wait_for(retrying, DEADLINE, "three Pending, retrying")
        c.delete("Notebook", "one", namespace="team-b")
        wait_for(lambda: status(c, "one", "team-b") is None, DEADLINE, "one gone")
        wait_for(lambda: (status(c, "three") or {}).get("phase") == "Ready", DEADLINE, "three Ready")
        c.delete("Notebook", "three", namespace="team-a")
        wait_for(lambda: status(c, "three") is None, DEADLINE, "three gone")
        wait_for(lambda: allocated(c) == 0, DEADLINE, "the pool back to 0 allocated")
