"""Manifest documents in: JSON or YAML, single or multi-document, bare lists or `{items: [...]}`.

Shared by the HTTP API (request bodies), NATS intents and the CLI (`-f FILE|DIR|-`), so every entry
point accepts exactly the same inputs and reports the same errors.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml

from gateway import bounds, yamlbounds
from gateway.errors import ApiError, ErrorDetail, malformed, too_large, unsupported_media

MAX_BODY = 1 << 20
"""Largest accepted body (1 MiB): also JetStream's max message size for the stream."""
Format = Literal["json", "yaml"]
_JSON = {"application/json", "text/json"}
_YAML = {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}
_SUFFIXES = (".yaml", ".yml", ".json")


def format_of(content_type: str | None) -> Format | None:
    """The body format an explicit Content-Type names; None (sniff) when it is absent; 415 otherwise."""
    if not content_type or not content_type.strip():
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    if media in _JSON or media.endswith("+json"):
        return "json"
    if media in _YAML or media.endswith("+yaml"):
        return "yaml"
    raise unsupported_media(media)


def parse(data: bytes, content_type: str | None = None, heavy: int | None = None) -> list[Any]:
    """Every document in `data`, with lists and `items` wrappers flattened (`heavy`: see `yamlbounds.Heavy`)."""
    if len(data) > MAX_BODY:
        raise too_large(MAX_BODY)
    fmt = format_of(content_type)
    if fmt is None:
        fmt = "json" if data.lstrip()[:1] in (b"{", b"[") else "yaml"
    docs = _json(data) if fmt == "json" else _yaml(data, heavy)
    bounds.check(docs)
    return flatten(docs)


def parse_one(data: bytes, content_type: str | None = None) -> Any:
    """Exactly one document (a PUT body or a NATS intent); 400 for none or several."""
    return one_of(parse(data, content_type))


def one_of(docs: list[Any]) -> Any:
    if len(docs) != 1:
        raise malformed(f"expected exactly one manifest, got {len(docs)}")
    return docs[0]


def flatten(docs: list[Any]) -> list[Any]:
    out: list[Any] = []
    for doc in docs:
        if doc is None:
            continue
        if isinstance(doc, list):
            out.extend(flatten(doc))
        elif isinstance(doc, dict) and isinstance(doc.get("items"), list) and "spec" not in doc:
            out.extend(flatten(doc["items"]))
        else:
            out.append(doc)
    return out


def _json(data: bytes) -> list[Any]:
    try:
        return [msgspec.json.decode(data)]
    except msgspec.DecodeError as e:
        raise malformed(f"malformed JSON: {e}") from e
    except RecursionError:  # msgspec stops at the interpreter's recursion limit
        raise bounds.too_complex(f"documents are nested deeper than {bounds.MAX_DEPTH} levels") from None


class YamlSyntax(ApiError):
    """Malformed YAML at `line`, `column` (1-based), said once: where, what, and what it was parsing."""

    def __init__(self, problem: str, line: int, column: int) -> None:
        message = f"malformed YAML at line {line}, column {column}: {problem}"
        super().__init__(400, "Malformed", message, [ErrorDetail("$", message)])
        self.problem, self.line, self.column = problem, line, column


def yaml_syntax(e: yaml.YAMLError) -> ApiError:
    if not isinstance(e, yaml.MarkedYAMLError) or e.problem_mark is None:
        return malformed(f"malformed YAML: {' '.join(str(e).split())}")
    problem = e.problem or "syntax error"
    if e.context and e.context_mark is not None:
        problem += f" ({e.context} that starts at line {e.context_mark.line + 1})"
    return YamlSyntax(problem, e.problem_mark.line + 1, e.problem_mark.column + 1)


def _yaml(data: bytes, heavy: int | None = None) -> list[Any]:
    try:
        return yamlbounds.load_all(data, heavy)  # a SafeLoader, alias expansion bounded before construction
    except yaml.YAMLError as e:
        raise yaml_syntax(e) from e
    except (UnicodeDecodeError, ValueError) as e:
        raise malformed(f"malformed body: {e}") from e
    except RecursionError:
        raise bounds.too_complex(f"documents are nested deeper than {bounds.MAX_DEPTH} levels") from None


def load(source: str) -> list[Any]:
    """Documents of a file, of every *.yaml/*.yml/*.json in a directory (sorted), or of stdin (`-`)."""
    if source == "-":
        return parse(sys.stdin.buffer.read())
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in _SUFFIXES)
    elif path.exists():
        files = [path]
    else:
        raise ApiError(400, "NotFound", f"no such file or directory: {source}")
    docs: list[Any] = []
    for file in files:
        fmt = "application/json" if file.suffix.lower() == ".json" else "application/yaml"
        data = file.read_bytes()
        if len(data) > MAX_BODY:
            raise too_large(MAX_BODY)
        docs.extend(parse(data, fmt))
    return docs
