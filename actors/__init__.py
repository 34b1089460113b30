"""Per-resource actors: pure kind models plus the runtime that hosts them.

Importing this package registers the shipped kinds, plus any modules named in BOSUN_KINDS
(comma-separated import paths): that is how a new kind is plugged into every component.
"""
import importlib
import os

from actors import governance, gpupool, modeldeployment  # noqa: F401  (registration side effect)
from actors.autoscaler import actor as _autoscaler  # noqa: F401,I001  (a companion of ModelDeployment: after it)

for _module in filter(None, (m.strip() for m in os.environ.get("BOSUN_KINDS", "").split(","))):
    importlib.import_module(_module)
