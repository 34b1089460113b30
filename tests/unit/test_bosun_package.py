"""`import bosun` serves two audiences: a script wants the client, a kind author the Kind API. Each name is
loaded on first use, so `from bosun import Client` never loads the actor model (nor NATS, SQLite, Litestar)."""
from __future__ import annotations

import subprocess
import sys

import pytest

import bosun
from actors.kind import Kind
from bosun.client import Client

LAYERS = {"actors", "core", "gateway", "projections", "analysis", "cli", "dataplane", "supervisor", "nats",
          "litestar", "aiosqlite"}


def test_the_client_loads_no_layer_of_bosun() -> None:
    code = ("import sys; from bosun import AsyncClient, Client, NotFound; import bosun.client; "
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                timeout=60).stdout.split())
    assert "httpx" in loaded and loaded & LAYERS == set()


def test_every_name_resolves_to_where_it_lives() -> None:
    assert bosun.Kind is Kind and bosun.Client is Client
    assert bosun.CAPACITY_PROTOCOL and callable(bosun.capacity_request)
    assert sorted(bosun.__all__) == sorted(bosun._WHERE)  # the literal list and the table agree
    assert set(bosun.__all__) <= set(dir(bosun))
    for name in bosun.__all__:
        assert getattr(bosun, name) is not None, name


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="Kindd"):
        _ = bosun.Kindd  # type: ignore[attr-defined]
    with pytest.raises(ImportError):
        from bosun import Nothing  # type: ignore[attr-defined]  # noqa: F401
