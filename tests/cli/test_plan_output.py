"""Plans and runs on the console: grouped changes, the run's identity, no unasked files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from bulkflow.records.identity import public_url
from bulkflow.sim import Simulator
from tests.cli.test_cli import ROOT, bulkflow, sim_env
from tests.conftest import DEST_FLOW, SOURCE_FLOW, job_body, write_job

ADD = {"add_segment": {"id": "2d79d0d8-724f-49fc-a09d-d1dec338c93c", "name": "Winter"}}
SECRET = "cli-test-secret"


def many(sim: Simulator, tmp_path: Path, count: int) -> Path:
    """A job adding one audience to ``count`` flows that all look the same."""
    ids = [f"flow-{n:04d}" for n in range(count)]
    for target_id in ids:
        sim.store.ensure("flows", target_id)
    return write_job(tmp_path, job_body(ids, [ADD]))


async def test_plan_shows_identical_changes_once_with_a_count(
    sim: Simulator, tmp_path: Path
) -> None:
    """300 flows with the same change: one block with ``300 flows``, not 300 blocks."""
    job = many(sim, tmp_path, 300)
    status, out, err = await bulkflow("plan", str(job), env=sim_env(sim))
    assert status == 0, err
    assert "300 flows:" in out
    assert out.count('+ audience 2d79d0d8-724f-49fc-a09d-d1dec338c93c "Winter"') == 1
    assert "flow-0007" not in out
    assert "--show-ids" in out


async def test_show_ids_lists_the_ids_of_a_group(sim: Simulator, tmp_path: Path) -> None:
    """``--show-ids`` lists every id of the group under its changes."""
    job = many(sim, tmp_path, 30)
    status, out, err = await bulkflow("plan", str(job), "--show-ids", env=sim_env(sim))
    assert status == 0, err
    assert all(f"    flow-{n:04d}" in out for n in range(30))


async def test_groups_then_targets_that_differ(sim: Simulator, tmp_path: Path) -> None:
    """The shared change set comes first, then each target whose changes are its own."""
    ids = [f"flow-{n:04d}" for n in range(5)]
    for target_id in ids:
        sim.store.ensure("flows", target_id)
    targets = [{"id": i, "vars": {"q": "Q1"}} for i in ids] + [
        {"id": DEST_FLOW, "vars": {"q": "Q2"}}
    ]
    named = {"add_segment": {"id": "2d79d0d8-724f-49fc-a09d-d1dec338c93c", "name": "W {{ q }}"}}
    job = write_job(tmp_path, job_body(targets, [named]))
    status, out, err = await bulkflow("plan", str(job), env=sim_env(sim))
    assert status == 0, err
    group = out.index("5 flows:")
    own = out.index("1 flow with changes of their own:")
    single = out.index(f'flows {DEST_FLOW} "2021 winter campaign"')
    assert group < own < single
    assert out.count('"W Q1"') == 1


async def test_failed_targets_show_no_change_block(sim: Simulator, tmp_path: Path) -> None:
    """A target that fails to plan is in the failures, not among the changes."""
    job = write_job(tmp_path, job_body([DEST_FLOW, SOURCE_FLOW], [ADD]))
    status, out, err = await bulkflow("plan", str(job), env=sim_env(sim))
    assert status == 1, err
    changes = out.split("Summary")[0]
    assert DEST_FLOW in changes
    assert SOURCE_FLOW not in changes
    assert SOURCE_FLOW in out.split("Summary")[1]


async def test_dry_run_prints_the_changes(sim: Simulator, tmp_path: Path) -> None:
    """``run --dry-run`` shows what it would change, as ``plan`` does."""
    job = write_job(tmp_path, job_body([DEST_FLOW], [ADD]))
    log = tmp_path / "d.jsonl"
    status, out, err = await bulkflow(
        "run", str(job), "--dry-run", "--log", str(log), env=sim_env(sim)
    )
    assert status == 0, err
    assert '+ audience 2d79d0d8-724f-49fc-a09d-d1dec338c93c "Winter"' in out


async def test_apply_lists_what_it_applied(sim: Simulator, tmp_path: Path) -> None:
    """``apply`` ends with the changes it made."""
    job = write_job(tmp_path, job_body([DEST_FLOW], [ADD]))
    plan = tmp_path / "p.json"
    env = sim_env(sim)
    status, _, err = await bulkflow("plan", str(job), "--out", str(plan), env=env)
    assert status == 0, err
    status, out, err = await bulkflow(
        "apply", str(plan), "--log", str(tmp_path / "a.jsonl"), env=env
    )
    assert status == 0, err
    assert "Changes made:" in out
    assert '+ audience 2d79d0d8-724f-49fc-a09d-d1dec338c93c "Winter"' in out


async def test_plan_with_sim_and_out_suggests_apply_with_sim(tmp_path: Path) -> None:
    """``plan --sim --out P`` suggests ``apply P --sim``: without it the apply goes to Adobe."""
    plan = tmp_path / "p.json"
    status, out, err = await bulkflow(
        "plan", str(ROOT / "jobs/source-schedule-weekly.yaml"), "--sim", "--out", str(plan)
    )
    assert status == 0, err
    assert f"bulkflow apply {plan} --sim" in out


async def test_plan_without_log_writes_no_file(sim: Simulator, tmp_path: Path) -> None:
    """``plan`` without ``--log`` leaves nothing behind: no runs/ folder, no scratch log."""
    job = write_job(tmp_path, job_body([DEST_FLOW], [ADD]))
    before = set(Path("/tmp").glob("bulkflow-test-job-*"))
    status, out, err = await bulkflow("plan", str(job), env=sim_env(sim), cwd=tmp_path)
    assert status == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.yaml"]
    assert set(Path("/tmp").glob("bulkflow-test-job-*")) == before
    assert "Result log" not in out


async def test_summary_names_where_and_who(sim: Simulator, tmp_path: Path) -> None:
    """The summary says which service, sandbox and org, who ran it, with which version."""
    job = write_job(tmp_path, job_body([DEST_FLOW], [ADD]))
    log = tmp_path / "r.jsonl"
    status, out, err = await bulkflow("run", str(job), "--log", str(log), env=sim_env(sim))
    assert status == 0, err
    assert f"Against {sim.base_url}, sandbox prod, org TEST@AdobeOrg." in out
    assert "By " in out
    assert "with bulkflow " in out


async def test_run_header_records_the_identity(sim: Simulator, tmp_path: Path) -> None:
    """The log's run header holds base URL, sandbox, org id and user@host."""
    job = write_job(tmp_path, job_body([DEST_FLOW], [ADD]))
    log = tmp_path / "r.jsonl"
    status, _, err = await bulkflow("run", str(job), "--log", str(log), env=sim_env(sim))
    assert status == 0, err
    header: dict[str, Any] = orjson.loads(log.read_bytes().splitlines()[0])
    assert header["base_url"] == sim.base_url
    assert (header["sandbox"], header["org_id"]) == ("prod", "TEST@AdobeOrg")
    assert "@" in header["operator"]
    assert SECRET not in log.read_text()


def test_identity_leaves_credentials_in_a_url_out() -> None:
    """A user and password written into the base URL never reach the header."""
    url = f"https://me:{SECRET}@platform.example:8443/data/foundation/flowservice?k={SECRET}#x"
    assert public_url(url) == "https://platform.example:8443/data/foundation/flowservice"


async def test_json_log_format_emits_start_and_summary_by_default(
    sim: Simulator, tmp_path: Path
) -> None:
    """``--log-format json`` without ``--log-level``: run.started and run.summary on stderr."""
    job = write_job(tmp_path, job_body([DEST_FLOW], [ADD]))
    log = tmp_path / "r.jsonl"
    status, _, err = await bulkflow(
        "run", str(job), "--log", str(log), "--log-format", "json", env=sim_env(sim)
    )
    assert status == 0, err
    names = [json.loads(line)["event"] for line in err.splitlines() if line.strip()]
    assert names[0] == "run.started"
    assert names[-1] == "run.summary"


async def test_console_log_format_stays_quiet_by_default(sim: Simulator, tmp_path: Path) -> None:
    """The console default is still warnings only: a clean run prints nothing on stderr."""
    job = write_job(tmp_path, job_body([DEST_FLOW], [ADD]))
    log = tmp_path / "r.jsonl"
    status, _, err = await bulkflow(
        "run", str(job), "--log", str(log), "--log-format", "console", env=sim_env(sim)
    )
    assert status == 0, err
    assert err == ""


async def test_singular_counts_in_the_summary(sim: Simulator, tmp_path: Path) -> None:
    """One target reads ``1 target``, ``1 conflict``, not ``1 targets``."""
    job = write_job(tmp_path, job_body([DEST_FLOW], [ADD]))
    status, out, err = await bulkflow(
        "run", str(job), "--log", str(tmp_path / "r.jsonl"), env=sim_env(sim)
    )
    assert status == 0, err
    assert "1 target in " in out
    assert "0 conflicts re-planned, 0 requests retried" in out
