"""The GpuPool manifest's spec."""
from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from actors.modeldeployment.spec import Token


class GpuPoolSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    region: Token
    gpu: Token
    capacity: Annotated[int, Meta(ge=0, le=1_000_000)]
