"""Every place that cuts or prints text masks first: client errors, debug events, plan lines,
diagnostics, IMS refusals, and a one-letter token that must not mask every letter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import structlog
from pydantic import SecretStr

from bulkflow import diagnostics
from bulkflow.errors import ApiError, AuthError
from bulkflow.flowservice.auth import ImsTokens, StaticToken
from bulkflow.flowservice.client import FlowClient, _message
from bulkflow.plantext import describe
from bulkflow.secrets import REGISTRY
from bulkflow.sim import Faults, Simulator
from tests.cli.test_cli import bulkflow, sim_env
from tests.conftest import CLIENT_ID, DEST_FLOW, SimFactory, job_body, write_job
from tests.engine_helpers import sim_settings

ECHOED = "echoed-secret-5d0c7a91b2e4f6"
ROLLOUT = [{"add_segment": {"id": "2d79d0d8-724f-49fc-a09d-d1dec338c93c"}}]


def fragments(secret: str) -> list[str]:
    """Every 8 characters of ``secret``: none of them may be shown."""
    return [secret[i : i + 8] for i in range(len(secret) - 7)]


def shows_fragment(text: str, secret: str) -> bool:
    """Whether ``text`` holds 8 consecutive characters of ``secret``."""
    return any(piece in text for piece in fragments(secret))


def test_error_message_is_masked_before_it_is_cut() -> None:
    """A plain-text error body echoing a secret across the 300-character cut shows none of it."""
    REGISTRY.add(ECHOED)
    raw = ("x" * 290 + ECHOED + " was refused").encode()
    message = _message(raw)
    assert message.startswith("x" * 290)
    assert not shows_fragment(message, ECHOED)


def test_error_message_field_is_masked() -> None:
    """A JSON error whose message field echoes a secret shows none of it."""
    REGISTRY.add(ECHOED)
    raw = orjson.dumps({"errorMessage": f"bad value {ECHOED}"})
    assert not shows_fragment(_message(raw), ECHOED)


async def test_debug_error_body_is_masked_before_it_is_cut(make_sim: SimFactory) -> None:
    """The debug event's error body, cut at 2,000 characters across a secret, shows none of it."""
    sim = await make_sim(Faults(echo_reject_rate=1.0), fixed_token="debug-cut-token")
    REGISTRY.add(ECHOED)
    settings = sim_settings(sim)

    def ops(pad: int) -> list[dict[str, str]]:
        return [{"op": "replace", "path": "/description", "value": "x" * pad + ECHOED}]

    async with aiohttp.ClientSession() as session:
        client = FlowClient(session, settings, StaticToken(SecretStr("debug-cut-token")), "prod")
        with pytest.raises(ApiError) as first:
            await client.patch("flows", DEST_FLOW, ops(0), '"etag"')
        assert ECHOED not in first.value.message
        # Where the echo puts the secret, so that the cut falls ten characters into it.
        headers = {"Authorization": "Bearer debug-cut-token", "x-api-key": CLIENT_ID}
        headers |= {"x-gw-ims-org-id": "O", "x-sandbox-name": "prod", "If-Match": '"etag"'}
        headers["Content-Type"] = "application/json"
        url = f"{sim.base_url}/flows/{DEST_FLOW}"
        async with session.patch(url, data=orjson.dumps(ops(0)), headers=headers) as resp:
            offset = (await resp.text()).index(ECHOED)
        diagnostics.configure("debug", "json")
        with structlog.testing.capture_logs() as events, pytest.raises(ApiError):
            await client.patch("flows", DEST_FLOW, ops(2000 - offset - 10), '"etag"')
    bodies = [e["error_body"] for e in events if e["event"] == "http.response"]
    assert len(bodies) == 1
    assert len(bodies[0]) <= 2000
    assert not shows_fragment(bodies[0], ECHOED)


def test_plan_line_is_masked_before_it_is_cut() -> None:
    """A long value with a secret where the plan line cuts it shows none of the secret."""
    REGISTRY.add(ECHOED)
    value = "x" * 60 + ECHOED + "y" * 40  # the cut at 80 falls inside the secret, unmasked
    line = describe({"op": "add", "path": "/description", "value": value})
    assert line.endswith("y…")
    assert not shows_fragment(line, ECHOED)


def test_exception_in_a_console_event_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    """An event with ``exc_info`` renders its traceback masked (the renderer formats it last)."""
    REGISTRY.add(ECHOED)
    diagnostics.configure("debug", "console")
    try:
        raise ValueError(f"refused {ECHOED}")
    except ValueError:
        structlog.get_logger().error("target.internal_error", exc_info=True)
    err = capsys.readouterr().err
    assert "ValueError: refused ***" in err
    assert ECHOED not in err


def test_bytes_and_other_values_in_events_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    """Values that are neither strings nor containers are masked as the renderer would show them."""
    REGISTRY.add(ECHOED)
    diagnostics.configure("debug", "json")
    structlog.get_logger().debug("http.response", body=ECHOED.encode(), path=Path(ECHOED))
    event = json.loads(capsys.readouterr().err)
    assert event["body"] == "***"
    assert event["path"] == "***"


@pytest.mark.parametrize(
    "key", ["clientSecret", "accessToken", "refresh_token", "Proxy-Authorization", "db_password"]
)
def test_sensitive_keys_in_any_spelling_are_masked(
    key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """camelCase, snake_case, dashed and prefixed names of secrets are masked by key."""
    diagnostics.configure("debug", "json")
    structlog.get_logger().debug("event", **{key: "unregistered-value"})
    assert json.loads(capsys.readouterr().err)[key] == "***"


async def test_ims_refusal_echoing_the_client_secret_is_masked(make_sim: SimFactory) -> None:
    """IMS quotes the client secret in its refusal: the AuthError does not, even unregistered."""
    sim = await make_sim(client_secret="the-right-one", ims_echo_secret=True)
    unregistered = "ims-unregistered-secret-83c1f0a2"
    settings = sim_settings(sim, client_secret=SecretStr(unregistered))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(AuthError) as refused:
            await ImsTokens(session, settings).token()
    assert "invalid client_secret parameter" in str(refused.value)
    assert not shows_fragment(str(refused.value), unregistered)


async def test_ims_refusal_echoing_the_client_secret_is_masked_in_cli(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """Through the CLI: exit 2, the refusal is printed, the client secret is not."""
    sim = await make_sim(client_secret="the-right-one", ims_echo_secret=True)
    job = write_job(tmp_path, job_body([DEST_FLOW], ROLLOUT))
    env = sim_env(sim) | {"AEP_CLIENT_SECRET": "cli-echoed-secret-61b9d3e7"}
    status, out, err = await bulkflow("run", str(job), "--log", str(tmp_path / "r.jsonl"), env=env)
    assert status == 2
    assert "IMS refused the client credentials" in err
    assert not shows_fragment(out + err, "cli-echoed-secret-61b9d3e7")


def one_letter_env(sim: Simulator) -> dict[str, str]:
    """The simulator's environment with the fixed one-letter token ``t``."""
    return sim_env(sim) | {"AEP_ACCESS_TOKEN": "t"}


async def test_one_letter_token_masks_no_letters(make_sim: SimFactory, tmp_path: Path) -> None:
    """``AEP_ACCESS_TOKEN=t``: the output and the log keep their letters (no ``***``)."""
    sim = await make_sim(fixed_token="t")
    job = write_job(tmp_path, job_body([DEST_FLOW, "no-such-flow"], ROLLOUT))
    log = tmp_path / "r.jsonl"
    status, out, err = await bulkflow("run", str(job), "--log", str(log), env=one_letter_env(sim))
    assert status == 1, err
    assert "2 targets" in out
    assert "not_found" in out
    assert "***" not in out + err + log.read_text()


async def test_one_letter_token_is_masked_in_debug_authorization(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """At debug level the ``Authorization`` header is masked and nothing else is."""
    sim = await make_sim(fixed_token="t")
    job = write_job(tmp_path, job_body([DEST_FLOW], ROLLOUT))
    args = ("run", str(job), "--log", str(tmp_path / "r.jsonl"), "--log-level", "debug")
    status, _, err = await bulkflow(*args, env=one_letter_env(sim))
    assert status == 0, err
    requests = [json.loads(line) for line in err.splitlines() if '"http.request"' in line]
    assert requests
    assert all(event["headers"]["Authorization"] == "***" for event in requests)
    assert err.count("***") == len(requests)


AUTH_DOC = {"auth": {"specName": "Basic", "params": {"password": "old-password-c0ffee"}}}
REPLACE_AUTH = {
    "op": "replace",
    "path": "/auth",
    "value": {"specName": "Basic", "params": {"password": "new-literal-password"}},
}


@pytest.mark.parametrize("op", [REPLACE_AUTH, {"op": "remove", "path": "/auth"}])
def test_plan_line_above_auth_params_shows_no_credentials(op: dict[str, Any]) -> None:
    """An op on ``/auth`` (which holds the params) reads ``(sensitive)``, no old or new value."""
    from bulkflow.engine.target import before

    line = describe(op, before(AUTH_DOC, op))
    assert line.endswith("/auth (sensitive)")


def test_ops_above_auth_params_are_written_masked() -> None:
    """An op on ``/auth`` is written with its leaves masked, as one on ``/auth/params`` is."""
    from bulkflow.secrets import Redactor

    (written,) = Redactor().ops([REPLACE_AUTH])
    assert written["value"] == {"specName": "***", "params": {"password": "***"}}
