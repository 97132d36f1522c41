"""Verifying against a read-back whose ``lastOperation`` has an odd shape: a clear failure, no bug."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from bulkflow.engine.target import Outcome, TargetPath
from bulkflow.errors import InvalidResponseError, TargetError, VerifyError
from bulkflow.flowservice.client import FlowClient
from bulkflow.job.targets import Target
from bulkflow.runconfig import RunConfig
from tests.conftest import DEST_FLOW, job_body
from tests.engine_helpers import prepared
from tests.hostile import Answer, hostile_server, settings_for, static_token

NAME = "a flow"


def read_back(last_operation: Any) -> Answer:
    """Every GET answers the flow, already renamed, with this ``lastOperation``."""
    doc = {"id": DEST_FLOW, "name": NAME, "etag": '"e2"', "lastOperation": last_operation}
    raw = orjson.dumps({"items": [doc]})

    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(body=raw, content_type="application/json")

    return answer


async def verify(session: aiohttp.ClientSession, tmp_path: Path, last_operation: Any) -> None:
    """Verify a rename of ``DEST_FLOW`` to :data:`NAME` against the read-back."""
    job = prepared(tmp_path, job_body([DEST_FLOW], [{"set": {"path": "/name", "value": NAME}}]))
    async with hostile_server(read_back(last_operation)) as server:
        client = FlowClient(session, settings_for(server.base_url), static_token(), "prod")
        path = TargetPath(job, client, RunConfig(verify=True, verify_timeout_s=0.5))
        await path.verify(Target(DEST_FLOW), Outcome())


@pytest.mark.parametrize("status", ["completed", "COMPLETED", "success"])
async def test_status_given_as_a_string_that_finished_well_passes(
    session: aiohttp.ClientSession, tmp_path: Path, status: str
) -> None:
    """``lastOperation.status`` as a plain string of a finished state is read like ``value``."""
    await verify(session, tmp_path, {"status": status})


async def test_status_given_as_a_failed_string_fails_as_verify(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """``lastOperation.status: "failed"`` fails the target as verify, naming the state."""
    with pytest.raises(VerifyError, match="the service reports the update failed"):
        await verify(session, tmp_path, {"status": "failed"})


@pytest.mark.parametrize(
    ("last_operation", "what"),
    [
        (["completed"], "lastOperation is a list, not an object"),
        ("completed", "lastOperation is a string, not an object"),
        ({"status": ["failed"]}, "lastOperation.status is a list, not an object or string"),
        ({"status": 3}, "lastOperation.status is a number, not an object or string"),
        ({"status": {"value": {"a": 1}}}, "lastOperation.status.value is an object, not a string"),
        ({"status": {"value": "failed", "errors": 7}}, None),
    ],
    ids=repr,
)
async def test_odd_last_operation_is_a_clear_failure_never_internal(
    session: aiohttp.ClientSession, tmp_path: Path, last_operation: Any, what: str | None
) -> None:
    """A lastOperation of an odd shape: invalid_response naming the field (or verify), not a bug."""
    with pytest.raises(TargetError) as caught:
        await verify(session, tmp_path, last_operation)
    if what is None:
        assert isinstance(caught.value, VerifyError)
    else:
        assert isinstance(caught.value, InvalidResponseError)
        assert caught.value.message == f"the read-back's {what}"
