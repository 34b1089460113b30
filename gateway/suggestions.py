""""Did you mean placement?": the closest valid field name for an unknown one, from the spec's msgspec type.

Pure. The validation error names the path of the object that holds the unknown field (`$.placement`);
`fields_at` walks the spec type along that path to the Struct there, whose encoded field names are the
valid choices.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

import msgspec

_SEGMENT = re.compile(r"\.([^.\[]+)|\[[^\]]*\]")


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice `word` most likely misspells (case slips first), or None when none is close."""
    options = list(choices)
    for option in options:
        if option.lower() == word.lower():
            return option
    found = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return found[0] if found else None


def hint(word: str, choices: Iterable[str]) -> str:
    """`unknown field`, with ` (did you mean placement?)` when some choice is close."""
    best = closest(word, choices)
    return "unknown field" + (f" (did you mean {best}?)" if best else "")


def fields_at(root: type, path: str) -> list[str]:
    """The field names of the Struct at `path` (`$`, `$.placement`, `$.readiness.httpGet`) in `root`."""
    info: Any = msgspec.inspect.type_info(root)
    for m in _SEGMENT.finditer(path.removeprefix("$")):
        info = _struct_in(info)
        name = m.group(1)
        if name is not None:
            struct = isinstance(info, msgspec.inspect.StructType)
            fields = {f.encode_name: f.type for f in info.fields} if struct else {}
            if name not in fields:
                return []
            info = fields[name]
        else:  # `[0]` or `[...]`: into the items or values
            info = getattr(info, "item_type", None) or getattr(info, "value_type", None)
    info = _struct_in(info)
    return [f.encode_name for f in info.fields] if isinstance(info, msgspec.inspect.StructType) else []


def _struct_in(info: Any) -> Any:
    """Through `X | None`, `Annotated[...]` and the like, to the Struct (or collection) inside."""
    if isinstance(info, msgspec.inspect.UnionType):
        for t in info.types:
            if not isinstance(t, msgspec.inspect.NoneType):
                return _struct_in(t)
    return info
