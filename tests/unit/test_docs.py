"""The documentation stays true to itself (issue #22): the README is short and starts with its contents,
every relative link in README.md and docs/ resolves (to a file, and to a heading when it names one), and no
file anywhere cites a `.md` document that does not exist."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
MAX_README = 25_000
"""Bytes. Operations, internals and figures live in docs/ and bench/RESULTS.md."""
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
CITED = re.compile(r"(?<![\w./-])((?:[\w.-]+/)*[\w-]+\.md)\b(?!\.\w)")
TEXT = ("*.py", "*.md", "*.yaml", "*.yml", "*.toml", "Makefile", "Dockerfile", "*.cfg")
SKIP = {".git", ".venv", "node_modules", "build", "dist", ".mypy_cache", ".pytest_cache", ".hypothesis"}


def documents() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench/RESULTS.md"]


def prose(path: Path) -> str:
    """The text outside fenced code blocks (a link in a code sample is not a link)."""
    return re.sub(r"(?ms)^```.*?^```", "", path.read_text())


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"(?m)^#{1,6} (.+)$", prose(path))}


def test_the_readme_is_short_and_opens_with_its_contents() -> None:
    assert len(README.read_bytes()) <= MAX_README, "move detail into docs/ (README.md's Documentation table)"
    headings = re.findall(r"(?m)^## (.+)$", prose(README))
    assert headings[0] == "Contents"
    listed = re.findall(r"\]\(#([^)]+)\)", prose(README).split("## Contents", 1)[1].split("\n## ", 1)[0])
    assert listed == [slug(h) for h in headings[1:]], "the contents list every section, in order"


def test_every_relative_link_resolves() -> None:
    broken = []
    for doc in documents():
        for target in LINK.findall(prose(doc)):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc
            if not file.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and file.suffix == ".md" and anchor not in anchors(file):
                broken.append(f"{doc.relative_to(ROOT)}: {target} (no such heading)")
    assert broken == []


def test_no_file_cites_a_document_that_does_not_exist() -> None:
    missing = []
    for pattern in TEXT:
        for path in ROOT.rglob(pattern):
            if SKIP & set(path.relative_to(ROOT).parts) or path.suffix == ".pyc":
                continue
            for cited in set(CITED.findall(path.read_text(errors="replace"))):
                if not any((base / cited).exists() for base in (path.parent, ROOT, ROOT / "docs")):
                    missing.append(f"{path.relative_to(ROOT)}: {cited}")
    assert sorted(missing) == []
