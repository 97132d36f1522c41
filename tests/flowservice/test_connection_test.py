"""``FlowClient.test_connection``: the service's ``{"result": true|false}``, nothing else."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from bulkflow.errors import InvalidResponseError
from tests.flowservice.test_hostile_server import client_for, json_answer
from tests.hostile import hostile_server

CONNECTION = "139f6a5f-a78b-4744-9f6a-5fa78bd74431"


@pytest.mark.parametrize("result", [True, False])
async def test_result_is_the_services_answer(session: aiohttp.ClientSession, result: bool) -> None:
    """``GET /connections/{id}/test`` answers the connection's test result."""
    async with hostile_server(json_answer({"result": result})) as server:
        assert await client_for(session, server).test_connection(CONNECTION) is result
        assert server.seen == [
            ("GET", f"/data/foundation/flowservice/connections/{CONNECTION}/test")
        ]


@pytest.mark.parametrize("body", [{}, {"result": "false"}, {"result": 0}, [True], None])
async def test_an_answer_without_a_boolean_is_invalid(
    session: aiohttp.ClientSession, body: Any
) -> None:
    """A 200 without a boolean ``result`` is ``invalid_response``, never read as a pass."""
    async with hostile_server(json_answer(body)) as server:
        with pytest.raises(InvalidResponseError, match="without a true or false result"):
            await client_for(session, server).test_connection(CONNECTION)
