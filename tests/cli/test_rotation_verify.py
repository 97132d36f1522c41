"""``--verify`` after ``rotate_credentials``: each connection is tested with the new credentials."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

from bulkflow.sim import Faults
from tests.cli.test_cli import bulkflow, sim_env
from tests.conftest import SimFactory
from tests.test_leak_paths import shows_fragment

MAIN_PASSWORD = "Main-Rotated-Pw-4b8e1d90c2"
LEGACY_PASSWORD = "Legacy-Mistyped-Pw-7f3a9c21"  # what the vault holds for the legacy account
REJECTED = "the service rejected the new credentials"
# Connections of the legacy account get its password; the others the main account's.
JOB = """\
version: 1
name: rotate-two-accounts
resource: connections
secrets:
  main_pw: {env: MAIN_PW}
  legacy_pw: {env: LEGACY_PW}
targets: {file: connections.csv}
changes:
  - rotate_credentials:
      params:
        username: "svc-{{ account }}@example.com"
        password: "{% if account == 'legacy' %}{{ secrets.legacy_pw }}{% else %}{{ secrets.main_pw }}{% endif %}"
        securityToken: "{{ secrets.main_pw }}"
        environmentUrl: login.salesforce.com
"""


def _rotation(tmp_path: Path) -> tuple[Path, list[str], list[str]]:
    """The job over 50 connections, 5 of them the legacy account's; their ids."""
    rng = random.Random("rotation")
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(50)]
    legacy = ids[3::10]
    rows = [f"{i},{'legacy' if i in legacy else 'main'}" for i in ids]
    (tmp_path / "connections.csv").write_text("id,account\n" + "\n".join(rows) + "\n")
    job = tmp_path / "job.yaml"
    job.write_text(JOB)
    return job, ids, legacy


async def test_rejected_rotation_fails_verify_and_shows_no_secret(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """50 rotated, 5 rejected by the connection test: those fail ``verify``, 45 pass, no secret shown."""
    sim = await make_sim(faults=Faults(reject_credentials_matching=LEGACY_PASSWORD))
    job, ids, legacy = _rotation(tmp_path)
    for connection_id in ids:
        sim.store.ensure("connections", connection_id)
    log = tmp_path / "run.jsonl"
    env = sim_env(sim) | {"MAIN_PW": MAIN_PASSWORD, "LEGACY_PW": LEGACY_PASSWORD}
    args = ("--verify", "--log", str(log), "--log-level", "debug", "--log-format", "json")
    status, out, err = await bulkflow("run", str(job), *args, env=env)
    assert status == 1, err
    results = [r for r in map(json.loads, log.read_text().splitlines()) if r["type"] == "result"]
    failed = {r["id"]: r["error"] for r in results if r["status"] == "failed"}
    assert set(failed) == set(legacy)
    assert all(e["kind"] == "verify" and REJECTED in e["message"] for e in failed.values())
    assert sum(r["status"] == "updated" for r in results) == 45
    assert REJECTED in out
    tests = [e for e in sim.stats.journal if e.path.endswith("/test")]
    assert len(tests) == 50
    md, html = tmp_path / "r.md", tmp_path / "r.html"
    for fmt, path in (("md", md), ("html", html)):
        assert (await bulkflow("report", str(log), "--format", fmt, "-o", str(path)))[0] == 0
    outputs = [out, err, log.read_text(), md.read_text(), html.read_text()]
    for text in outputs:
        assert not shows_fragment(text, MAIN_PASSWORD)
        assert not shows_fragment(text, LEGACY_PASSWORD)


async def test_accepted_rotation_is_tested_once_per_connection(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """Credentials the service accepts: every connection updated, one test request each."""
    sim = await make_sim()
    job, ids, _ = _rotation(tmp_path)
    for connection_id in ids[:10]:
        sim.store.ensure("connections", connection_id)
    rows = (tmp_path / "connections.csv").read_text().splitlines()[:11]
    (tmp_path / "connections.csv").write_text("\n".join(rows) + "\n")
    env = sim_env(sim) | {"MAIN_PW": MAIN_PASSWORD, "LEGACY_PW": LEGACY_PASSWORD}
    log = tmp_path / "run.jsonl"
    status, out, err = await bulkflow("run", str(job), "--verify", "--log", str(log), env=env)
    assert status == 0, out + err
    assert "Run: 10 updated." in out
    assert sum(e.path.endswith("/test") for e in sim.stats.journal) == 10


async def test_rotation_without_verify_sends_no_test(make_sim: SimFactory, tmp_path: Path) -> None:
    """Without ``--verify`` no connection test is requested."""
    sim = await make_sim(faults=Faults(reject_credentials_matching=LEGACY_PASSWORD))
    job, ids, _ = _rotation(tmp_path)
    for connection_id in ids:
        sim.store.ensure("connections", connection_id)
    env = sim_env(sim) | {"MAIN_PW": MAIN_PASSWORD, "LEGACY_PW": LEGACY_PASSWORD}
    status, _, err = await bulkflow("run", str(job), "--log", str(tmp_path / "r.jsonl"), env=env)
    assert status == 0, err
    assert not any(e.path.endswith("/test") for e in sim.stats.journal)
