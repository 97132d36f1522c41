"""IMS answers that are not what IMS serves: odd lifetimes, tokens that cannot go in a header."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from pydantic import SecretStr

from bulkflow.errors import AuthError
from bulkflow.flowservice.auth import DEFAULT_LIFETIME_S, MAX_LIFETIME_S, ImsTokens
from tests.cli.test_cli import bulkflow
from tests.conftest import DEST_FLOW, job_body, write_job
from tests.hostile import Answer, Hostile, hostile_server, settings_for

SECRET = "ims-test-secret"


def ims_answer(body: Any) -> Answer:
    """Every request answered 200 with ``body`` as JSON."""
    raw = orjson.dumps(body)

    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(body=raw, content_type="application/json")

    return answer


class Clock:
    """A monotonic clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tokens_of(session: aiohttp.ClientSession, ims: Hostile, clock: Clock) -> ImsTokens:
    """IMS tokens from the hostile server, on ``clock``."""
    settings = settings_for(
        ims.base_url,
        ims_url=ims.origin + "/ims/token/v3",
        access_token=None,
        client_secret=SecretStr(SECRET),
    )
    return ImsTokens(session, settings, clock=clock)


@pytest.mark.parametrize("expires_in", ["soon", -5, 0, None, True, [3600]], ids=repr)
async def test_unusable_expires_in_is_a_short_lifetime(
    session: aiohttp.ClientSession, expires_in: Any
) -> None:
    """An ``expires_in`` that is not a positive number: the token is used, renewed within 300 s."""
    body = {"access_token": "tok-abc", "expires_in": expires_in}
    clock = Clock()
    async with hostile_server(ims_answer(body)) as ims:
        tokens = tokens_of(session, ims, clock)
        assert await tokens.token() == "tok-abc"
        clock.now += DEFAULT_LIFETIME_S - 60
        await tokens.token()
        assert tokens.fetches == 1
        clock.now += 60
        await tokens.token()
        assert tokens.fetches == 2


async def test_huge_expires_in_is_capped(session: aiohttp.ClientSession) -> None:
    """``expires_in: 1e300`` is held to a day at most: the token is renewed after that."""
    clock = Clock()
    body = {"access_token": "tok-abc", "expires_in": 1e300}
    async with hostile_server(ims_answer(body)) as ims:
        tokens = tokens_of(session, ims, clock)
        await tokens.token()
        clock.now += MAX_LIFETIME_S
        await tokens.token()
    assert tokens.fetches == 2


@pytest.mark.parametrize(
    "token",
    ["tok\r\nX-Evil: 1", "tok\x00abc", "tok\x7fabc", "tøk-abc", "tok abc", "", "   ", 12345, None],
    ids=repr,
)
async def test_token_that_cannot_be_a_header_is_an_auth_error(
    session: aiohttp.ClientSession, token: Any
) -> None:
    """A token with control characters, non-ASCII, spaces, empty or not a string: AuthError."""
    async with hostile_server(ims_answer({"access_token": token, "expires_in": 3600})) as ims:
        with pytest.raises(AuthError) as caught:
            await tokens_of(session, ims, Clock()).token()
    assert str(caught.value) == "IMS answered a token that cannot be sent in a header"


@pytest.mark.timeout(30)
async def test_token_with_line_break_exits_2_end_to_end(tmp_path: Path) -> None:
    """``bulkflow run`` given a CR/LF token by IMS: exit 2 naming the problem, no traceback."""
    evil = {"access_token": "tok-9f8e7d\r\nX-Evil: 1", "expires_in": 3600}
    async with hostile_server(ims_answer(evil)) as ims:
        env = {
            "AEP_BASE_URL": ims.base_url,
            "AEP_IMS_URL": ims.origin + "/ims/token/v3",
            "AEP_CLIENT_ID": "hostile-test",
            "AEP_CLIENT_SECRET": SECRET,
            "AEP_ORG_ID": "TEST@AdobeOrg",
        }
        job = write_job(tmp_path, job_body([DEST_FLOW], [{"set": {"path": "/name", "value": "x"}}]))
        log = tmp_path / "r.jsonl"
        status, out, err = await bulkflow("run", str(job), "--log", str(log), env=env)
        assert [method for method, _ in ims.seen] == ["POST"]
    assert status == 2, err
    assert "IMS answered a token that cannot be sent in a header" in err
    assert "Traceback" not in err
    assert "9f8e7d" not in out + err
