"""`-f FILE|DIR|-` for the set commands (`apply`, `diff`): every document with where it came from.

Every file is read before anything is sent, and every problem is reported (a file that does not parse
does not hide the next one's): `bad.yaml:4:7: malformed YAML: mapping values are not allowed here`.
Each document keeps its file and its number in that file, so a server's refusal can say
`team-a.yaml, document 2 (modeldeployment/chat)`.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.errors import ApiError
from gateway.manifests import MAX_BODY, YamlSyntax, parse

SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Doc:
    body: Any
    file: str
    """As given on the command line (`-` for stdin)."""
    index: int
    """1-based, in its file."""

    @property
    def where(self) -> str:
        return f"{self.file}, document {self.index}"


def files_of(source: str) -> list[Path] | None:
    """The files a source names (a directory: its *.yaml/*.yml/*.json, sorted); None for stdin."""
    if source == "-":
        return None
    path = Path(source)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if path.exists():
        return [path]
    raise ApiError(400, "NotFound", f"no such file or directory: {source}")


def load(sources: tuple[str, ...] | list[str]) -> tuple[list[Doc], list[str]]:
    """(every document, every problem as one line); documents of files with problems are left out."""
    docs: list[Doc] = []
    problems: list[str] = []
    for source in sources:
        try:
            files = files_of(source)
        except ApiError as e:
            problems.append(e.message)
            continue
        for name, data, content_type in _read(source, files):
            try:
                found = parse(data, content_type) if len(data) <= MAX_BODY else None
            except YamlSyntax as e:
                problems.append(f"{name}:{e.line}:{e.column}: malformed YAML: {e.problem}")
                continue
            except ApiError as e:
                problems.append(f"{name}: {e.message}")
                continue
            if found is None:
                problems.append(f"{name}: larger than {MAX_BODY} bytes")
                continue
            docs.extend(Doc(body, name, i) for i, body in enumerate(found, 1))
    return docs, problems


def _read(source: str, files: list[Path] | None) -> list[tuple[str, bytes, str | None]]:
    if files is None:
        return [("-", sys.stdin.buffer.read(), None)]
    return [(str(f), f.read_bytes(), "application/json" if f.suffix.lower() == ".json" else "application/yaml")
            for f in files]
