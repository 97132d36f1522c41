"""Secrets never leave memory: planted values are searched for in every output of real runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkflow.sim import Faults, Simulator
from tests.cli.test_cli import bulkflow
from tests.conftest import CLIENT_ID, CONNECTION, SimFactory, write_job

CLIENT_SECRET = "planted-client-secret-9f3a61"
ACCESS_TOKEN = "planted-access-token-77c1e0"
NEW_PASSWORD = "planted-new-password-2b8e44"
SECURITY_TOKEN = "planted-security-token-d41c07"
PLANTED = (CLIENT_SECRET, ACCESS_TOKEN, NEW_PASSWORD, SECURITY_TOKEN)


def rotation_job(tmp_path: Path) -> Path:
    """The rotation job over the tutorial's connection and two generated ones."""
    body = {
        "version": 1,
        "name": "rotation",
        "resource": "connections",
        "secrets": {"pw": {"env": "PLANTED_PASSWORD"}, "tok": {"file": "token.txt"}},
        "targets": [CONNECTION, "conn-a", "conn-b"],
        "changes": [
            {
                "rotate_credentials": {
                    "params": {
                        "username": "salesforce-connector-username",
                        "password": "{{ secrets.pw }}",
                        "securityToken": "{{ secrets.tok }}",
                    }
                }
            },
            {"set": {"path": "/description", "value": "rotated (token {{ secrets.tok }})"}},
        ],
    }
    (tmp_path / "token.txt").write_text(SECURITY_TOKEN + "\n")
    return Path(write_job(tmp_path, body))


async def planted_sim(make_sim: SimFactory, faults: Faults | None = None) -> Simulator:
    """A simulator whose IMS accepts only the planted secret, and the planted fixed token."""
    sim: Simulator = await make_sim(
        faults, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, fixed_token=ACCESS_TOKEN
    )
    for connection in ("conn-a", "conn-b"):
        sim.store.ensure("connections", connection)
    return sim


def environment(sim: Simulator, static_token: bool = False) -> dict[str, str]:
    env = {
        "AEP_BASE_URL": sim.base_url,
        "AEP_IMS_URL": sim.ims_url,
        "AEP_CLIENT_ID": CLIENT_ID,
        "AEP_CLIENT_SECRET": CLIENT_SECRET,
        "AEP_ORG_ID": "TEST@AdobeOrg",
        "PLANTED_PASSWORD": NEW_PASSWORD,
    }
    if static_token:
        env["AEP_ACCESS_TOKEN"] = ACCESS_TOKEN
    return env


def assert_nothing_planted(tmp_path: Path, *outputs: str) -> None:
    """No planted value in the given outputs or in any file under ``tmp_path`` but our inputs."""
    inputs = {tmp_path / "token.txt"}
    texts = list(outputs)
    for path in tmp_path.rglob("*"):
        if path.is_file() and path not in inputs:
            texts.append(path.read_text(errors="replace"))
    for value in PLANTED:
        for text in texts:
            assert value not in text


async def _run(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    job = rotation_job(tmp_path)
    return await bulkflow(*args[:1], str(job), *args[1:], env=env, cwd=tmp_path)


async def test_rotation_run_leaks_nothing(make_sim: SimFactory, tmp_path: Path) -> None:
    """A real rotation: credentials reach the service, and appear in no output or file."""
    sim = await planted_sim(make_sim)
    status, out, err = await _run(tmp_path, environment(sim), "run")
    assert status == 0, err
    doc = sim.doc("connections", CONNECTION)
    assert doc is not None
    assert doc["auth"]["params"]["password"] == NEW_PASSWORD
    assert doc["auth"]["params"]["securityToken"] == SECURITY_TOKEN
    assert_nothing_planted(tmp_path, out, err)
    log = next((tmp_path / "runs").glob("rotation-*.jsonl")).read_text()
    assert '"password":"***"' in log
    assert "rotated (token ***)" in log


async def test_dry_run_leaks_nothing(make_sim: SimFactory, tmp_path: Path) -> None:
    """The plan shows ``(sensitive)`` and masks secrets inside other values."""
    sim = await planted_sim(make_sim)
    status, out, err = await _run(tmp_path, environment(sim), "plan")
    assert status == 0, err
    assert "~ /auth/params (sensitive)" in out
    assert sim.stats.count("PATCH") == 0
    assert_nothing_planted(tmp_path, out, err)


async def test_rejected_patch_echoing_body_leaks_nothing(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """A 400 whose message echoes the request: recorded and printed with the secrets masked."""
    sim = await planted_sim(make_sim, Faults(echo_reject_rate=1.0))
    status, out, err = await _run(tmp_path, environment(sim), "run", "--log-level", "debug")
    assert status == 1
    assert "Could not validate patch instructions" in out
    assert "***" in out
    assert_nothing_planted(tmp_path, out, err)


async def test_debug_logging_with_static_token_leaks_nothing(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """``--log-level debug`` logs requests (Authorization masked) and never a connection body."""
    sim = await planted_sim(make_sim)
    status, out, err = await _run(
        tmp_path, environment(sim, static_token=True), "run", "--log-level", "debug"
    )
    assert status == 0, err
    assert "http.request" in err
    assert '"Authorization": "***"' in err
    assert "sim-initial-password" not in err, "a connection's current credentials were logged"
    assert_nothing_planted(tmp_path, out, err)


@pytest.mark.parametrize("value", PLANTED)
def test_reprs_hide_secrets(value: str) -> None:
    """Settings and secret sources never show a secret in their repr."""
    from pydantic import SecretStr

    from bulkflow.flowservice.settings import Settings

    settings = Settings(
        client_id="c", client_secret=SecretStr(value), access_token=SecretStr(value)
    )
    assert value not in repr(settings)
    assert value not in str(settings)


async def test_plan_file_apply_and_reports_leak_nothing(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """A saved plan holds secret references; apply resolves them; reports show neither."""
    sim = await planted_sim(make_sim)
    env = environment(sim)
    plan = tmp_path / "plan.json"
    status, out1, err1 = await _run(tmp_path, env, "plan", "--out", str(plan))
    assert status == 0, err1
    assert "{{ secrets.pw }}" in plan.read_text()
    log = tmp_path / "apply.jsonl"
    status, out2, err2 = await bulkflow(
        "apply", str(plan), "--log", str(log), env=env, cwd=tmp_path
    )
    assert status == 0, err2
    doc = sim.doc("connections", CONNECTION)
    assert doc is not None
    assert doc["auth"]["params"]["password"] == NEW_PASSWORD
    outputs = [out1, err1, out2, err2]
    for fmt in ("md", "html"):
        status, out, err = await bulkflow(
            "report", str(log), "--format", fmt, "-o", str(tmp_path / f"report.{fmt}"), cwd=tmp_path
        )
        assert status == 0, err
        outputs += [out, err]
    assert "(sensitive)" in (tmp_path / "report.md").read_text()
    assert_nothing_planted(tmp_path, *outputs)


async def test_apply_with_secret_gone_fails_clearly(make_sim: SimFactory, tmp_path: Path) -> None:
    """The secret's variable is unset at apply time: exit 2 naming the secret, nothing sent."""
    sim = await planted_sim(make_sim)
    plan = tmp_path / "plan.json"
    await _run(tmp_path, environment(sim), "plan", "--out", str(plan))
    env = environment(sim)
    del env["PLANTED_PASSWORD"]
    sim.stats.reset()
    status, _, err = await bulkflow("apply", str(plan), env=env, cwd=tmp_path)
    assert status == 2
    assert "secret 'pw'" in err
    assert sim.stats.count("PATCH") == 0
