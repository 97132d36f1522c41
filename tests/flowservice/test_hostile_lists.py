"""List pages whose next link never ends: every listing stops, with kind invalid_response."""

from __future__ import annotations

import contextlib
import itertools
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from bulkflow.errors import InvalidResponseError
from bulkflow.flowservice.client import FlowClient
from bulkflow.flowservice.query import run_query
from bulkflow.flowservice.retry import RetryPolicy
from tests.hostile import Answer, Hostile, hostile_server, settings_for, static_token

ETAG = '"e1"'


def client_for(session: aiohttp.ClientSession, server: Hostile) -> FlowClient:
    """A client of ``server`` with quick retries."""
    policy = RetryPolicy(max_attempts=2, base_s=0.01, cap_s=0.02)
    return FlowClient(session, settings_for(server.base_url), static_token(), "prod", policy)


def pages(items: list[Any], fresh_tokens: bool) -> Answer:
    """Every page holds ``items`` and a next link: the same token, or a new one each time."""
    counter = itertools.count()

    async def answer(request: web.Request) -> web.StreamResponse:
        token = f"t{next(counter)}" if fresh_tokens else "abc"
        body = {"items": items, "_links": {"next": {"href": f"?continuationToken={token}"}}}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    return answer


async def drain(client: FlowClient, **limits: int) -> list[Any]:
    """Every document of ``GET /flows``."""
    async with contextlib.aclosing(client.list_all("flows", [("limit", "100")], **limits)) as docs:
        return [doc async for doc in docs]


@pytest.mark.timeout(10)
async def test_repeated_continuation_token_fails_as_invalid_response(
    session: aiohttp.ClientSession,
) -> None:
    """A next link giving the same token again: invalid_response after two requests, no loop."""
    async with hostile_server(pages([], fresh_tokens=False)) as server:
        with pytest.raises(InvalidResponseError) as caught:
            await drain(client_for(session, server))
        assert len(server.seen) == 2
    assert caught.value.message == ("GET /flows: the list's next link repeats a continuation token")


@pytest.mark.timeout(10)
async def test_endless_empty_pages_fail_as_invalid_response(
    session: aiohttp.ClientSession,
) -> None:
    """New tokens forever with empty pages: stopped after 20 empty pages in a row."""
    async with hostile_server(pages([], fresh_tokens=True)) as server:
        with pytest.raises(InvalidResponseError, match="20 empty pages in a row"):
            await drain(client_for(session, server))
        assert len(server.seen) == 20


@pytest.mark.timeout(10)
async def test_endless_full_pages_stop_at_the_page_cap(session: aiohttp.ClientSession) -> None:
    """New tokens forever with documents on every page: stopped at the listing's page cap."""
    doc = {"id": "a", "etag": ETAG}
    async with hostile_server(pages([doc], fresh_tokens=True)) as server:
        with pytest.raises(InvalidResponseError, match="more than 7 pages"):
            await drain(client_for(session, server), max_pages=7)
        assert len(server.seen) == 7


@pytest.mark.timeout(10)
async def test_batch_fetch_stops_after_ten_pages(session: aiohttp.ClientSession) -> None:
    """``get_many`` (at most 100 ids) given endless pages of other documents gives up at 10."""
    other = {"id": "someone-else", "etag": ETAG}
    async with hostile_server(pages([other], fresh_tokens=True)) as server:
        with pytest.raises(InvalidResponseError, match="more than 10 pages"):
            await client_for(session, server).get_many("flows", ["a", "b"])
        assert len(server.seen) == 10


@pytest.mark.timeout(10)
async def test_query_with_repeating_token_fails_as_invalid_response(
    session: aiohttp.ClientSession,
) -> None:
    """A query's listing whose next link repeats a token fails instead of looping."""
    async with hostile_server(pages([{"id": "a"}], fresh_tokens=False)) as server:
        with pytest.raises(InvalidResponseError, match="repeats a continuation token"):
            await run_query(client_for(session, server), "flows", ["state==enabled"], None)
