"""Target and source connections end to end: the ``bulkflow`` command against the simulator."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

from bulkflow.sim import Faults
from bulkflow.sim.generate import clone
from tests.cli.test_cli import bulkflow, sim_env
from tests.conftest import SimFactory, fetched_ids, job_body, write_job

S3_SPEC = "4fce964d-3f37-408f-9778-e597338a21ee"
SFTP_SPEC = "64ef4b8b-a6e0-41b5-9677-3805d1ee5dd0"
GCS_SOURCE = "eb19c882-f19c-4d63-ad21-1d7ba9b21a85"
EXPORT_SETTINGS = [
    {"set": {"path": "/params/compression", "value": "GZIP"}},
    {"set": {"path": "/params/csvOptions/delimiter", "value": ";"}},
]
# What a write changes besides the planned ops: the etag, who and when, the operation.
WRITE_STAMPS = ("etag", "version", "updatedAt", "updatedBy", "updatedClient", "lastOperation")


def _ids(count: int, seed: str) -> list[str]:
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]


def _targets_file(tmp_path: Path, ids: list[str]) -> dict[str, str]:
    (tmp_path / "targets.txt").write_text("\n".join(ids) + "\n")
    return {"file": "targets.txt"}


def _without_stamps(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in WRITE_STAMPS}


async def _s3_rollout(make_sim: SimFactory, tmp_path: Path, count: int) -> tuple[Any, Path, Path]:
    """A simulator with ``count`` S3 CSV target connections, a rival writer, and the job."""
    # 0.1: six rival edits in a row on one target (past max_conflict_retries) are one in a
    # million, about one run in 5,000 over 200 targets; 0.3 failed one run in seven.
    sim = await make_sim(faults=Faults(rival_rate=0.1), seed=16)
    ids = _ids(count, "s3-rollout")
    for target_id in ids:
        sim.store.ensure("targetConnections", target_id, "s3")
    body = job_body(_targets_file(tmp_path, ids), EXPORT_SETTINGS, resource="targetConnections")
    return sim, write_job(tmp_path, body), tmp_path / "run.jsonl"


async def test_export_settings_rollout_ends_as_intended_and_changes_nothing_else(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """200 S3 target connections with a rival writer: each ends GZIP and ';', nothing else moved."""
    sim, job, log = await _s3_rollout(make_sim, tmp_path, 200)
    ids = (tmp_path / "targets.txt").read_text().split()
    before = {i: clone(sim.doc("targetConnections", i)) for i in ids}
    status, out, err = await bulkflow("run", str(job), "--log", str(log), env=sim_env(sim))
    assert status == 0, out + err
    rivals = {doc_id for doc_id, _ in sim.store.rival_writes}
    assert len(rivals) > 10, "the rival writer was on"
    for target_id in ids:
        after = _without_stamps(sim.doc("targetConnections", target_id))
        expected = _without_stamps(before[target_id])
        expected["params"] = expected["params"] | {"compression": "GZIP"}
        expected["params"]["csvOptions"] = expected["params"]["csvOptions"] | {"delimiter": ";"}
        if target_id in rivals:  # the rival's own edit stays, as it wrote it
            assert "another writer" in after.pop("description")
        assert after == expected, target_id
    records = [json.loads(line) for line in log.read_text().splitlines()]
    results = [r for r in records if r["type"] == "result"]
    assert {r["resource"] for r in results} == {"targetConnections"}
    assert sum(r["conflicts"] for r in results) >= len(rivals)


async def test_export_settings_rerun_sends_nothing(make_sim: SimFactory, tmp_path: Path) -> None:
    """Run again after the rollout: every target unchanged, no PATCH sent."""
    sim, job, log = await _s3_rollout(make_sim, tmp_path, 40)
    status, _, err = await bulkflow("run", str(job), "--log", str(log), env=sim_env(sim))
    assert status == 0, err
    patches = sim.stats.count("PATCH")
    again = tmp_path / "again.jsonl"
    status, out, err = await bulkflow("run", str(job), "--log", str(again), env=sim_env(sim))
    assert status == 0, err
    assert "Run: 40 unchanged." in out
    assert sim.stats.count("PATCH") == patches


async def test_target_connections_are_fetched_in_batches(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """The list endpoint's ``property=id==a,b,…`` fetches target connections 100 at a time."""
    sim = await make_sim()
    ids = _ids(150, "batch")
    for target_id in ids:
        sim.store.ensure("targetConnections", target_id, "s3")
    body = job_body(_targets_file(tmp_path, ids), EXPORT_SETTINGS, resource="targetConnections")
    job = write_job(tmp_path, body)
    status, _, err = await bulkflow(
        "plan", str(job), "--log", str(tmp_path / "p.jsonl"), env=sim_env(sim)
    )
    assert status == 0, err
    assert fetched_ids(sim, "targetConnections") == set(ids)
    single = [e for e in sim.stats.journal if e.method == "GET" and "/targetConnections/" in e.path]
    assert single == []
    assert sim.stats.count("GET") == 2  # 100 + 50 ids


async def test_query_selects_target_connections_by_spec(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """``targets: {query: …}`` on target connections selects through ``GET /targetConnections``."""
    sim = await make_sim(target_connections=80, seed=5)
    sftp = {
        doc_id
        for doc_id, doc in sim.store.docs("prod", "targetConnections").items()
        if doc["connectionSpec"]["id"] == SFTP_SPEC
    }
    query = {"query": {"property": [f"connectionSpec.id=={SFTP_SPEC}"]}}
    change = [{"set": {"path": "/params/compression", "value": "GZIP"}}]
    job = write_job(tmp_path, job_body(query, change, resource="targetConnections"))
    status, out, err = await bulkflow("targets", str(job), "--ids-only", env=sim_env(sim))
    assert status == 0, err
    assert set(out.split()) == sftp


async def test_verify_reads_target_connections_back(make_sim: SimFactory, tmp_path: Path) -> None:
    """``--verify`` on target connections: a PATCH the service ignored fails with kind verify."""
    sim = await make_sim(faults=Faults(ignore_patch_rate=1.0))
    ids = _ids(3, "verify")
    for target_id in ids:
        params = sim.store.ensure("targetConnections", target_id, "s3")["params"]
        params["compression"] = "NONE"  # each has a change to make
    body = job_body(ids, EXPORT_SETTINGS, resource="targetConnections")
    job, log = write_job(tmp_path, body), tmp_path / "run.jsonl"
    status, out, _ = await bulkflow(
        "run", str(job), "--verify", "--log", str(log), env=sim_env(sim)
    )
    assert status == 1
    results = [json.loads(line) for line in log.read_text().splitlines()]
    kinds = {r["error"]["kind"] for r in results if r["type"] == "result"}
    assert kinds == {"verify"}
    assert "the change did not stick" in out


async def test_saved_plan_applies_to_source_connections(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """``plan --out`` then ``apply`` on a source connection sends the reviewed ops with If-Match."""
    sim = await make_sim()
    new_path = "/landing/2026/customers.csv"
    change = [{"set": {"path": "/params/path", "value": new_path}}]
    job = write_job(tmp_path, job_body([GCS_SOURCE], change, resource="sourceConnections"))
    plan = tmp_path / "plan.json"
    env = sim_env(sim)
    status, out, err = await bulkflow(
        "plan", str(job), "--out", str(plan), "--log", str(tmp_path / "p.jsonl"), env=env
    )
    assert status == 0, err
    assert '~ /params/path: "/acme/acme-customers/sales/acme-customers-sales-spring.csv"' in out
    assert json.loads(plan.read_text())["resource"] == "sourceConnections"
    status, _, err = await bulkflow("apply", str(plan), "--log", str(tmp_path / "a.jsonl"), env=env)
    assert status == 0, err
    assert sim.doc("sourceConnections", GCS_SOURCE)["params"]["path"] == new_path


async def test_example_export_settings_job_runs_with_sim(tmp_path: Path) -> None:
    """``jobs/export-settings.yaml --sim --verify``: every listed connection ends updated."""
    log = tmp_path / "r.jsonl"
    status, out, err = await bulkflow(
        "run", "jobs/export-settings.yaml", "--sim", "--verify", "--log", str(log)
    )
    assert status == 0, out + err
    results = [json.loads(line) for line in log.read_text().splitlines()]
    statuses = {r["status"] for r in results if r["type"] == "result"}
    assert statuses <= {"updated", "unchanged"}
    assert "60 targets" in out
