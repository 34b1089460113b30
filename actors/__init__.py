"""Per-resource actors: pure kind models plus the runtime that hosts them.

Importing this package registers the shipped kinds.
"""
from actors import gpupool, modeldeployment  # noqa: F401  (registration side effect)
