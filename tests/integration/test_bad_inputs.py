"""The bad-input corpus (corpus/bad_inputs.py) over HTTP and NATS against a real gateway.

Each case must get its structured 4xx (`{error: {code, message, details}}`, never a 5xx), and the only
thing it may append to the log is its own audit record (which it must append: every decision is audited).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

import nats
import pytest
import pytest_asyncio

from core import log as corelog
from core import natsserver
from corpus import bad_inputs as corpus
from gateway.intents.responder import Responder, reply_status
from tests.conftest import eventually
from tests.integration.test_gateway_support import TOKEN, Env, gateway_env


@pytest.fixture(scope="module")
def nats_url(module_nats_server: natsserver.Server) -> str:
    """One nats-server for the 56 cases: each appends only its audit record, checked from its own `before`."""
    return module_nats_server.url()


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    """One gateway for every case: a refused request changes nothing it keeps (that is what is checked)."""
    async with gateway_env(nats_url, tmp_path_factory.mktemp("gateway")) as e:
        # Each case must see its own record: with the minute-long aggregation window, the fourth refusal of
        # one source and reason would be held for the minute's count record (test_gateway_auditlog.py).
        e.gw.admission.recorder.window = 1e-9
        yield e


async def appended_since(log: corelog.Log, seq: int) -> list[str]:
    """Subjects of every message appended after `seq`."""
    async with contextlib.aclosing(log.read("bosun.>", start_seq=seq + 1)) as messages:
        return [m.subject async for m in messages]


async def only_audit_since(log: corelog.Log, seq: int) -> list[str]:
    """An `eventually` check: at least one message since `seq`, and every one an audit record."""
    subjects = await appended_since(log, seq)
    assert all(s.startswith("bosun.audit.") for s in subjects), subjects
    return subjects


def assert_structured(status: int, body: bytes, case: corpus.HttpCase | corpus.NatsCase) -> None:
    assert status == case.status, (case.name, status, body[:300])
    error = json.loads(body)["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error.get("details", []), list)
    assert all(set(d) == {"field", "message"} for d in error.get("details", []))
    if case.code is not None:
        assert error["code"] == case.code, (case.name, error)
    assert "ParamType" not in body.decode() and "Validation failed for" not in body.decode()


def wire(value: str) -> bytes:
    """A header value as HTTP carries it: latin-1 when it can be (`²` is 0xB2), else UTF-8 bytes."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode()


@pytest.mark.parametrize("case", corpus.HTTP, ids=[c.name for c in corpus.HTTP])
async def test_http_bad_input_is_refused_structured_and_only_audited(env: Env, case: corpus.HttpCase) -> None:
    before = await env.log.last_seq()
    headers = [(k.encode(), wire(v)) for k, v in corpus.with_token(case.headers, TOKEN).items()]
    r = await env.client.request(case.method, case.path, headers=headers, content=case.body or None)
    assert_structured(r.status_code, r.content, case)
    await eventually(lambda: only_audit_since(env.log, before), timeout=10)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def intents(env: Env, nats_url: str) -> AsyncIterator[nats.NATS]:
    responder = Responder(env.gw.nc, env.gw.admission)
    await responder.start()
    client = await nats.connect(nats_url, name="corpus-client")
    try:
        yield client
    finally:
        await client.close()
        await responder.stop()


@pytest.mark.parametrize("case", corpus.NATS, ids=[c.name for c in corpus.NATS])
async def test_nats_bad_input_is_refused_structured_and_only_audited(
    env: Env, intents: nats.NATS, case: corpus.NatsCase
) -> None:
    before = await env.log.last_seq()
    reply = await intents.request(
        case.subject, case.body, timeout=10, headers=corpus.with_token(case.headers, TOKEN)
    )
    assert_structured(reply_status(reply.headers), reply.data, case)
    await eventually(lambda: only_audit_since(env.log, before), timeout=10)
