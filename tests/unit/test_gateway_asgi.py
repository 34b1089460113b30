"""The write fast path's body reader: Litestar's limits and disconnect handling, without a server."""
from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import ApiError
from gateway.http.asgi import Disconnected, headers_of, read_body
from gateway.manifests import MAX_BODY


def receiver(*messages: dict[str, Any]) -> Any:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    return receive


async def test_chunks_are_joined() -> None:
    receive = receiver({"type": "http.request", "body": b"ab", "more_body": True},
                       {"type": "http.request", "body": b"", "more_body": True},
                       {"type": "http.request", "body": b"c", "more_body": False})
    assert await read_body(receive, None) == b"abc"
    assert await read_body(receiver({"type": "http.request"}), "0") == b""


async def test_announced_or_streamed_excess_is_413() -> None:
    with pytest.raises(ApiError) as announced:
        await read_body(receiver(), str(MAX_BODY + 1))
    assert announced.value.status == 413 and announced.value.code == "TooLarge"
    half = b"x" * (MAX_BODY // 2 + 1)
    with pytest.raises(ApiError) as streamed:
        await read_body(receiver({"type": "http.request", "body": half, "more_body": True},
                                 {"type": "http.request", "body": half, "more_body": False}), None)
    assert streamed.value.status == 413
    exact = b"x" * MAX_BODY
    assert await read_body(receiver({"type": "http.request", "body": exact}), str(MAX_BODY)) == exact


async def test_bad_length_is_400_and_a_disconnect_ends_the_request() -> None:
    with pytest.raises(ApiError) as bad:
        await read_body(receiver(), "ten")
    assert bad.value.status == 400
    with pytest.raises(Disconnected):
        await read_body(receiver({"type": "http.request", "body": b"a", "more_body": True},
                                 {"type": "http.disconnect"}), None)


def test_first_of_repeated_headers_wins_and_others_are_ignored() -> None:
    scope = {"headers": [(b"authorization", b"Bearer a"), (b"authorization", b"Bearer b"), (b"x-other", b"1"),
                         (b"if-match", b"7")]}
    assert headers_of(scope) == {"authorization": "Bearer a", "if-match": "7"}
