"""The tool verbs' extras are read from the distribution's metadata (`cli/tools.py`); the message a user
sees without them is checked on the image's install (`tests/integration/test_image.py`)."""
from __future__ import annotations

from cli import tools

REQUIRES = [
    "nats-py<3,>=2.9",
    'pytest>=8; extra == "test"',
    'eventsourcing<10,>=9.5; extra == "bench"',
    "aiohttp>=3.9; extra == 'bench'",
    'bosun[bench]; extra == "test"',
]


def test_an_extra_lists_only_its_own_distributions() -> None:
    assert tools.extra_requirements(REQUIRES, "bench") == ["eventsourcing", "aiohttp"]
    assert tools.extra_requirements(REQUIRES, "test") == ["pytest", "bosun"]
    assert tools.extra_requirements(REQUIRES, "chaos") == []


def test_the_development_install_has_both_tool_extras() -> None:
    assert tools.missing("bench") == [] and tools.missing("chaos") == []


def test_an_extra_of_an_absent_distribution_is_not_reported_missing() -> None:
    assert tools.missing("bench", distribution="no-such-distribution-bosun") == []

