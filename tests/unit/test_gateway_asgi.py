"""The write fast path's body reader: Litestar's limits and disconnect handling, without a server."""
from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import ApiError
from gateway.http.asgi import Disconnected, headers_of, read_body
from gateway.manifests import MAX_BODY


class receiver:  # a class used like the function it was
    """An ASGI `receive` over a fixed list of messages; `left` is what the app did not read."""

    def __init__(self, *messages: dict[str, Any]) -> None:
        self.left = list(messages)

    async def __call__(self) -> dict[str, Any]:
        return self.left.pop(0)


async def test_chunks_are_joined() -> None:
    receive = receiver({"type": "http.request", "body": b"ab", "more_body": True},
                       {"type": "http.request", "body": b"", "more_body": True},
                       {"type": "http.request", "body": b"c", "more_body": False})
    assert await read_body(receive, None) == b"abc"
    assert await read_body(receiver({"type": "http.request"}), "0") == b""


async def test_announced_or_streamed_excess_is_413_after_the_rest_is_read() -> None:
    """The rest of an oversized body is read and dropped, so a client that writes all before reading gets
    the 413 instead of a connection reset (issue #13, finding 8)."""
    half = b"x" * (MAX_BODY // 2 + 1)
    announced_body = receiver({"type": "http.request", "body": half, "more_body": True},
                              {"type": "http.request", "body": half, "more_body": True},
                              {"type": "http.request", "body": half, "more_body": False})
    with pytest.raises(ApiError) as announced:
        await read_body(announced_body, str(3 * len(half)))
    assert announced.value.status == 413 and announced.value.code == "TooLarge"
    assert announced_body.left == []
    streamed_body = receiver({"type": "http.request", "body": half, "more_body": True},
                             {"type": "http.request", "body": half, "more_body": True},
                             {"type": "http.request", "body": half, "more_body": False})
    with pytest.raises(ApiError) as streamed:
        await read_body(streamed_body, None)
    assert streamed.value.status == 413
    assert streamed_body.left == []
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
