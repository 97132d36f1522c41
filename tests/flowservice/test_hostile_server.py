"""The client against a server that is not Flow Service: redirects, missing etags, bad bodies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from bulkflow.errors import ApiError, AuthError, InvalidResponseError
from bulkflow.flowservice.auth import ImsTokens
from bulkflow.flowservice.client import FlowClient
from bulkflow.flowservice.retry import RetryPolicy
from tests.hostile import Answer, Hostile, hostile_server, settings_for, static_token

FLOW = "226fb2e1-db69-4760-b67e-9e671e05abfc"
ETAG = '"1a0037e4-0000-0200-0000-602e06f60000"'
DOC = {"id": FLOW, "name": "a flow", "etag": ETAG, "state": "enabled"}
MiB = 1024 * 1024


def client_for(session: aiohttp.ClientSession, server: Hostile, attempts: int = 3) -> FlowClient:
    """A client of ``server`` with quick retries."""
    policy = RetryPolicy(max_attempts=attempts, base_s=0.01, cap_s=0.02)
    return FlowClient(session, settings_for(server.base_url), static_token(), "prod", policy)


def json_answer(body: Any, status: int = 200) -> Answer:
    """Always answer ``body`` as JSON."""

    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")

    return answer


def raw_answer(body: bytes, status: int = 200, content_type: str = "text/html") -> Answer:
    """Always answer these bytes."""

    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, status=status, content_type=content_type)

    return answer


def redirect_answer(status: int, location: str) -> Answer:
    """Always answer a redirect to ``location``."""

    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": location})

    return answer


@pytest.fixture
async def elsewhere() -> AsyncIterator[Hostile]:
    """The other origin a redirect points at; it must never hear from the client."""
    async with hostile_server(json_answer({"items": [DOC]})) as server:
        yield server


async def test_redirected_get_is_not_followed(
    session: aiohttp.ClientSession, elsewhere: Hostile
) -> None:
    """A GET answered 302: failed with kind http, the status and the origin; nothing sent there."""
    location = elsewhere.origin + "/steal?token=abc#frag"
    async with hostile_server(redirect_answer(302, location)) as server:
        with pytest.raises(ApiError) as caught:
            await client_for(session, server).get("flows", FLOW)
    assert (caught.value.kind, caught.value.status) == ("http", 302)
    assert caught.value.message == (
        f"GET answered 302 redirecting to {elsewhere.origin}; redirects are not followed"
    )
    assert elsewhere.seen == []


async def test_redirected_patch_is_not_followed_nor_retried(
    session: aiohttp.ClientSession, elsewhere: Hostile
) -> None:
    """A PATCH answered 307 is sent once, and never replayed to the other origin."""
    async with hostile_server(redirect_answer(307, elsewhere.base_url + "/flows/x")) as server:
        with pytest.raises(ApiError, match="PATCH answered 307 redirecting to http://127"):
            await client_for(session, server).patch("flows", FLOW, [], ETAG)
        assert [method for method, _ in server.seen] == ["PATCH"]
    assert elsewhere.seen == []


async def test_redirect_without_location_names_no_origin(session: aiohttp.ClientSession) -> None:
    """A 308 without a usable Location still fails as http 308, saying so."""

    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(status=308)

    async with hostile_server(answer) as server:
        with pytest.raises(ApiError, match="GET answered 308 without a Location") as caught:
            await client_for(session, server).get("flows", FLOW)
    assert caught.value.kind == "http"


async def test_ims_redirect_is_an_auth_error_naming_status_and_origin(
    session: aiohttp.ClientSession, elsewhere: Hostile
) -> None:
    """The token POST answered 307 fails as AuthError; the other origin gets no credentials."""
    async with hostile_server(redirect_answer(307, elsewhere.origin + "/ims?x=1")) as ims:
        settings = settings_for(
            ims.base_url, ims_url=ims.origin + "/ims/token/v3", client_secret="s3cr3t-value"
        )
        with pytest.raises(AuthError) as caught:
            await ImsTokens(session, settings).token()
    assert "307" in str(caught.value)
    assert elsewhere.origin in str(caught.value)
    assert "/ims?x=1" not in str(caught.value)
    assert elsewhere.seen == []


async def test_document_without_etag_fails_as_invalid_response(
    session: aiohttp.ClientSession,
) -> None:
    """A GET serving a document with neither ``etag`` nor ``version`` fails the target."""
    bare = {"id": FLOW, "name": "a flow"}
    async with hostile_server(json_answer({"items": [bare]})) as server:
        with pytest.raises(InvalidResponseError) as caught:
            await client_for(session, server).get("flows", FLOW)
    assert caught.value.message == (
        f"GET /flows/{FLOW} served the document without an etag; "
        "not sending a PATCH without If-Match"
    )


async def test_etag_with_line_break_fails_as_invalid_response(
    session: aiohttp.ClientSession,
) -> None:
    """An etag that cannot be sent as a header (CR/LF) is refused when read, not a crash later."""
    evil = DOC | {"etag": '"abc"\r\nX-Injected: 1'}
    async with hostile_server(json_answer({"items": [evil]})) as server:
        with pytest.raises(InvalidResponseError, match="etag"):
            await client_for(session, server).get("flows", FLOW)


async def test_patch_with_empty_etag_is_not_sent(session: aiohttp.ClientSession) -> None:
    """``patch`` with an empty etag raises before any request is made."""
    async with hostile_server() as server:
        with pytest.raises(InvalidResponseError, match="If-Match"):
            await client_for(session, server).patch("flows", FLOW, [{"op": "remove"}], "")
        assert server.seen == []


async def test_action_without_etag_is_not_sent(session: aiohttp.ClientSession) -> None:
    """A state action without a known etag raises before any request is made."""
    async with hostile_server() as server:
        with pytest.raises(InvalidResponseError, match="If-Match"):
            await client_for(session, server).action(FLOW, "disable", None)
        assert server.seen == []


async def test_listed_document_without_etag_is_left_to_a_single_get(
    session: aiohttp.ClientSession,
) -> None:
    """``get_many`` leaves out a listed document without etag, so the caller fetches it alone."""
    other = "2edc08ac-4df5-4fe6-936f-81a19ce92f5c"
    listed = {"items": [DOC, {"id": other, "name": "no etag"}], "_links": {}}
    async with hostile_server(json_answer(listed)) as server:
        found = await client_for(session, server).get_many("flows", [FLOW, other])
    assert set(found) == {FLOW}
    assert found[FLOW][1] == ETAG


async def test_get_answered_with_html_fails_as_invalid_response(
    session: aiohttp.ClientSession,
) -> None:
    """A 200 GET whose body is not JSON: invalid_response naming the request and status."""
    async with hostile_server(raw_answer(b"<html>maintenance</html>")) as server:
        with pytest.raises(
            InvalidResponseError, match="GET answered 200 with a body that is not JSON"
        ):
            await client_for(session, server).get("flows", FLOW)


async def test_get_without_items_fails_as_invalid_response(
    session: aiohttp.ClientSession,
) -> None:
    """A 200 GET with a JSON object but no ``items`` is invalid_response, not http."""
    async with hostile_server(json_answer({"id": FLOW})) as server:
        with pytest.raises(InvalidResponseError, match="without the document"):
            await client_for(session, server).get("flows", FLOW)


async def test_get_whose_item_is_not_an_object_fails_as_invalid_response(
    session: aiohttp.ClientSession,
) -> None:
    """A 200 GET whose ``items[0]`` is a string is invalid_response."""
    async with hostile_server(json_answer({"items": ["not a document"]})) as server:
        with pytest.raises(InvalidResponseError):
            await client_for(session, server).get("flows", FLOW)


async def test_list_page_that_is_not_an_object_fails_as_invalid_response(
    session: aiohttp.ClientSession,
) -> None:
    """A list page that is a JSON array, not an object, is invalid_response."""
    async with hostile_server(json_answer([DOC])) as server:
        with pytest.raises(InvalidResponseError, match="list"):
            await client_for(session, server).list_page("flows", [("limit", "10")])


async def test_list_page_whose_items_is_not_a_list_fails_as_invalid_response(
    session: aiohttp.ClientSession,
) -> None:
    """A list page whose ``items`` is an object is invalid_response."""
    async with hostile_server(json_answer({"items": {"a": 1}})) as server:
        with pytest.raises(InvalidResponseError, match="items"):
            await client_for(session, server).list_page("flows", [("limit", "10")])


async def test_patch_answered_2xx_with_html_fails_as_invalid_response(
    session: aiohttp.ClientSession,
) -> None:
    """A 200 PATCH answer that is not JSON fails the target: the outcome is unknown."""
    async with hostile_server(raw_answer(b"OK, probably")) as server:
        with pytest.raises(InvalidResponseError, match="PATCH answered 200"):
            await client_for(session, server).patch("flows", FLOW, [], ETAG)


async def test_declared_oversize_body_is_refused_unread(session: aiohttp.ClientSession) -> None:
    """A 200 declaring more than the cap (33 MiB of JSON) fails as invalid_response."""
    body = b'{"items": [], "pad": "' + b"x" * (33 * MiB) + b'"}'
    async with hostile_server(raw_answer(body, content_type="application/json")) as server:
        with pytest.raises(InvalidResponseError, match="MiB"):
            await client_for(session, server).list_page("flows", [("limit", "10")])


def endless(status: int, written: list[int], done: asyncio.Event, total: int) -> Answer:
    """Stream ``total`` bytes of body in chunks (no Content-Length), counting what was written."""

    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=status, headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        chunk = b"x" * (256 * 1024)
        try:
            while written[0] < total:
                await response.write(chunk)
                written[0] += len(chunk)
        except (ConnectionError, RuntimeError):
            pass
        finally:
            done.set()
        return response

    return answer


@pytest.mark.timeout(20)
async def test_huge_error_body_is_read_only_in_part(session: aiohttp.ClientSession) -> None:
    """A 400 with a 200 MiB streamed body: the client reads a small part and fails http 400."""
    written, done = [0], asyncio.Event()
    total = 200 * MiB
    async with hostile_server(endless(400, written, done, total)) as server:
        with pytest.raises(ApiError) as caught:
            await client_for(session, server).get("flows", FLOW)
        await asyncio.wait_for(done.wait(), 10)
    assert (caught.value.kind, caught.value.status) == ("http", 400)
    assert len(caught.value.message) < 1000
    assert written[0] < total, "the client read the whole body"


@pytest.mark.timeout(20)
async def test_endless_success_body_fails_as_invalid_response(
    session: aiohttp.ClientSession,
) -> None:
    """A 200 streaming more than the cap without Content-Length is cut off: invalid_response."""
    written, done = [0], asyncio.Event()
    total = 200 * MiB
    async with hostile_server(endless(200, written, done, total)) as server:
        with pytest.raises(InvalidResponseError, match="MiB"):
            await client_for(session, server).get("flows", FLOW)
        await asyncio.wait_for(done.wait(), 10)
    assert written[0] < total, "the client read the whole body"
