"""The simulator's IMS endpoint and the gateway's header checks."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from bulkflow.sim import Simulator
from tests.conftest import DEST_FLOW, Api, SimFactory

FORM = {
    "grant_type": "client_credentials",
    "client_id": "cid",
    "client_secret": "s3",
    "scope": "openid",
}


async def _token(session: aiohttp.ClientSession, sim: Simulator, **form: str) -> tuple[int, Any]:
    async with session.post(sim.ims_url, data=FORM | form) as resp:
        return resp.status, await resp.json()


async def test_ims_issues_a_token_that_works(sim: Simulator) -> None:
    """A client-credentials token (expires_in in seconds) is accepted by Flow Service routes."""
    async with aiohttp.ClientSession() as session:
        status, body = await _token(session, sim)
        assert status == 200
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 86399
        headers = {
            "Authorization": f"Bearer {body['access_token']}",
            "x-api-key": "cid",
            "x-gw-ims-org-id": "o@AdobeOrg",
            "x-sandbox-name": "prod",
        }
        async with session.get(f"{sim.base_url}/flows/{DEST_FLOW}", headers=headers) as resp:
            assert resp.status == 200


async def test_ims_checks_credentials_when_configured(make_sim: SimFactory) -> None:
    """With client id and secret configured, a wrong secret is refused."""
    sim = await make_sim(client_id="cid", client_secret="right")
    async with aiohttp.ClientSession() as session:
        status, body = await _token(session, sim, client_secret="wrong")
        assert status == 401
        assert body["error"] == "invalid_client"
        status, _ = await _token(session, sim, client_secret="right")
        assert status == 200


async def test_ims_requires_client_credentials_grant(sim: Simulator) -> None:
    """Another grant type is refused."""
    async with aiohttp.ClientSession() as session:
        status, body = await _token(session, sim, grant_type="password")
        assert status == 400
        assert body["error"] == "unsupported_grant_type"


async def test_missing_authorization_is_403010(api: Api) -> None:
    """No Authorization header: the gateway's 403010."""
    headers = api.headers()
    del headers["Authorization"]
    status, body, _ = await api.request("GET", f"/flows/{DEST_FLOW}", headers)
    assert (status, body["error_code"]) == (403, "403010")


async def test_unknown_token_is_401013(api: Api) -> None:
    """A token the IMS did not issue: 401 with error_code 401013."""
    headers = api.headers(Authorization="Bearer made-up")
    status, body, _ = await api.request("GET", f"/flows/{DEST_FLOW}", headers)
    assert (status, body["error_code"]) == (401, "401013")


async def test_expired_token_is_401013(make_sim: SimFactory, make_api: Any) -> None:
    """A token past its lifetime is no longer valid."""
    api: Api = make_api(await make_sim(token_ttl_s=0.2))
    status, _, _ = await api.request("GET", f"/flows/{DEST_FLOW}")
    assert status == 200
    await asyncio.sleep(0.3)
    status, body, _ = await api.request("GET", f"/flows/{DEST_FLOW}")
    assert (status, body["error_code"]) == (401, "401013")


async def test_missing_api_key_is_403000(api: Api) -> None:
    """No x-api-key: 403000."""
    headers = api.headers()
    del headers["x-api-key"]
    status, body, _ = await api.request("GET", f"/flows/{DEST_FLOW}", headers)
    assert (status, body["error_code"]) == (403, "403000")


async def test_api_key_must_match_token_client(api: Api) -> None:
    """An x-api-key other than the token's client id: 403003."""
    status, body, _ = await api.request(
        "GET", f"/flows/{DEST_FLOW}", api.headers(**{"x-api-key": "other"})
    )
    assert (status, body["error_code"]) == (403, "403003")


async def test_missing_org_is_400003(api: Api) -> None:
    """No x-gw-ims-org-id: 400003."""
    headers = api.headers()
    del headers["x-gw-ims-org-id"]
    status, body, _ = await api.request("GET", f"/flows/{DEST_FLOW}", headers)
    assert (status, body["error_code"]) == (400, "400003")


async def test_missing_sandbox_is_2105(api: Api) -> None:
    """No x-sandbox-name: FLOW-2105-400."""
    headers = api.headers()
    del headers["x-sandbox-name"]
    status, body, _ = await api.request("GET", f"/flows/{DEST_FLOW}", headers)
    assert status == 400
    assert body["type"].endswith("FLOW-2105-400")


async def test_fixed_token_is_accepted(make_sim: SimFactory, sim: Simulator) -> None:
    """``--token`` makes one fixed token valid with any API key."""
    fixed = await make_sim(fixed_token="let-me-in")
    headers = {
        "Authorization": "Bearer let-me-in",
        "x-api-key": "anything",
        "x-gw-ims-org-id": "o",
        "x-sandbox-name": "prod",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{fixed.base_url}/flows/{DEST_FLOW}", headers=headers) as resp,
    ):
        assert resp.status == 200
