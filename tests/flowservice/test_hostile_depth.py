"""Documents nested absurdly deep: refused where they are read, never a crash later."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bulkflow.errors import InvalidResponseError
from bulkflow.flowservice.client import FlowClient
from bulkflow.records.resultlog import read_log
from tests.cli.test_cli import bulkflow
from tests.conftest import DEST_FLOW, job_body, write_job
from tests.hostile import Answer, Hostile, hostile_server, settings_for, static_token

ETAG = '"e1"'


def client_for(session: aiohttp.ClientSession, server: Hostile) -> FlowClient:
    """A client of ``server``."""
    return FlowClient(session, settings_for(server.base_url), static_token(), "prod")


def nested_doc(levels: int) -> dict[str, Any]:
    """A flow whose ``deep`` field holds ``levels`` nested lists."""
    deep: Any = "bottom"
    for _ in range(levels):
        deep = [deep]
    return {"id": DEST_FLOW, "name": "n", "etag": ETAG, "deep": deep}


def items_answer(doc: dict[str, Any]) -> Answer:
    """Every request answered ``{"items": [doc]}`` (a GET and a list page alike)."""
    raw = json.dumps({"items": [doc]}).encode()  # orjson itself cannot write it

    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(body=raw, content_type="application/json")

    return answer


async def test_get_of_a_document_nested_too_deep_fails_as_invalid_response(
    session: aiohttp.ClientSession,
) -> None:
    """A GET serving a document nested 250 levels deep is invalid_response, naming the limit."""
    async with hostile_server(items_answer(nested_doc(250))) as server:
        with pytest.raises(InvalidResponseError) as caught:
            await client_for(session, server).get("flows", DEST_FLOW)
    assert caught.value.message == "GET answered 200 with JSON nested more than 200 levels deep"


async def test_list_page_with_a_document_nested_too_deep_fails_as_invalid_response(
    session: aiohttp.ClientSession,
) -> None:
    """A list page holding one document nested 250 levels deep is invalid_response."""
    async with hostile_server(items_answer(nested_doc(250))) as server:
        with pytest.raises(InvalidResponseError, match="nested more than 200 levels"):
            await client_for(session, server).get_many("flows", [DEST_FLOW])


async def test_document_nested_150_levels_is_accepted(session: aiohttp.ClientSession) -> None:
    """The limit leaves room: a document nested 150 levels deep is read as usual."""
    async with hostile_server(items_answer(nested_doc(150))) as server:
        doc, etag = await client_for(session, server).get("flows", DEST_FLOW)
    assert (doc["id"], etag) == (DEST_FLOW, ETAG)


@pytest.mark.timeout(30)
async def test_deep_document_fails_as_invalid_response_end_to_end(tmp_path: Path) -> None:
    """``bulkflow run`` on a deep document: the target fails invalid_response, exit 1, no bug."""
    async with hostile_server(items_answer(nested_doc(300))) as server:
        env = {
            "AEP_BASE_URL": server.base_url,
            "AEP_ACCESS_TOKEN": "hostile-test-token",
            "AEP_CLIENT_ID": "hostile-test",
            "AEP_ORG_ID": "TEST@AdobeOrg",
        }
        job = write_job(tmp_path, job_body([DEST_FLOW], [{"set": {"path": "/name", "value": "x"}}]))
        log = tmp_path / "r.jsonl"
        status, _, err = await bulkflow("run", str(job), "--log", str(log), env=env)
        assert not [seen for seen in server.seen if seen[0] != "GET"]
    assert status == 1, err
    results = [r for r in read_log(log) if r["type"] == "result"]
    assert [r["error"]["kind"] for r in results] == ["invalid_response"]
