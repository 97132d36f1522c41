"""The ``bulkflow`` command as a user runs it: real processes, exit codes, no tracebacks."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from bulkflow.sim import Simulator
from tests.conftest import CLIENT_ID, DEST_FLOW, SOURCE_FLOW, job_body, write_job

ROOT = Path(__file__).resolve().parents[2]
ROLLOUT = [{"add_segment": {"id": "2d79d0d8-724f-49fc-a09d-d1dec338c93c"}}]


async def bulkflow(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> tuple[int, str, str]:
    """Run ``python -m bulkflow ARGS``; return exit status, stdout and stderr."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AEP_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bulkflow", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=clean | (env or {}), cwd=cwd,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def sim_env(sim: Simulator) -> dict[str, str]:
    """Environment pointing bulkflow at a test simulator."""
    return {
        "AEP_BASE_URL": sim.base_url,
        "AEP_IMS_URL": sim.ims_url,
        "AEP_CLIENT_ID": CLIENT_ID,
        "AEP_CLIENT_SECRET": "cli-test-secret",
        "AEP_ORG_ID": "TEST@AdobeOrg",
    }


async def test_demo_job_runs_against_embedded_simulator(tmp_path: Path) -> None:
    """``bulkflow run jobs/q4-segment-rollout.yaml --sim`` updates every target and exits 0."""
    status, out, err = await bulkflow(
        "run", "jobs/q4-segment-rollout.yaml", "--sim", "--log", str(tmp_path / "r.jsonl")
    )
    assert status == 0, err
    assert "updated" in out
    assert "200 targets" in out
    assert err == "", "off a terminal there is no progress noise"


async def test_invalid_job_exits_2_with_location_and_sends_nothing(
    sim: Simulator, tmp_path: Path
) -> None:
    """A bad job file: exit 2, ``file:line: problem`` on stderr, no traceback, no request."""
    job = write_job(tmp_path, job_body([DEST_FLOW], [{"add_audience": {"id": "x"}}]))
    status, out, err = await bulkflow("run", str(job), env=sim_env(sim))
    assert status == 2
    assert f"{job}:7: " in err  # the line of "- add_audience:"
    assert "unknown change kind 'add_audience'" in err
    assert "Traceback" not in err + out
    assert sim.stats.count() == 0


async def test_failed_target_gives_exit_1_and_retry_command(sim: Simulator, tmp_path: Path) -> None:
    """One missing flow: the others are updated, exit 1, the summary says how to retry."""
    job = write_job(tmp_path, job_body([DEST_FLOW, "no-such-flow"], ROLLOUT))
    log = tmp_path / "r.jsonl"
    status, out, err = await bulkflow("run", str(job), "--log", str(log), env=sim_env(sim))
    assert status == 1, err
    assert "no-such-flow" in out
    assert "not_found" in out
    assert "bulkflow retry" in out
    assert sim.stats.count("PATCH", 200) == 1


async def test_plan_prints_changes_and_sends_no_patch(sim: Simulator, tmp_path: Path) -> None:
    """``bulkflow plan`` shows each change, with the value it replaces, and never PATCHes."""
    job = write_job(
        tmp_path, job_body([DEST_FLOW], [{"set": {"path": "/name", "value": "renamed"}}])
    )
    status, out, err = await bulkflow(
        "plan", str(job), "--log", str(tmp_path / "p.jsonl"), env=sim_env(sim)
    )
    assert status == 0, err
    assert DEST_FLOW in out
    assert '~ /name: "2021 winter campaign" → "renamed"' in out
    assert "planned" in out
    assert sim.stats.count("PATCH") == 0


async def test_plain_http_to_remote_host_is_refused(tmp_path: Path) -> None:
    """http:// to a non-loopback host: exit 2 with the reason, before any request."""
    job = write_job(tmp_path, job_body([DEST_FLOW], ROLLOUT))
    env = {
        "AEP_BASE_URL": "http://flows.example.com/data/foundation/flowservice",
        "AEP_CLIENT_ID": "c",
        "AEP_CLIENT_SECRET": "s",
        "AEP_ORG_ID": "o",
    }
    status, _, err = await bulkflow("run", str(job), "--log", str(tmp_path / "r.jsonl"), env=env)
    assert status == 2
    assert "unencrypted" in err
    assert "Traceback" not in err


async def test_missing_credentials_is_input_error(tmp_path: Path) -> None:
    """No AEP_CLIENT_ID: exit 2 with a message that mentions --sim."""
    job = write_job(tmp_path, job_body([DEST_FLOW], ROLLOUT))
    status, _, err = await bulkflow("run", str(job), "--log", str(tmp_path / "r.jsonl"))
    assert status == 2
    assert "AEP_CLIENT_ID" in err


async def test_bad_client_secret_fails_before_any_target(tmp_path: Path, make_sim: Any) -> None:
    """IMS refuses the secret: exit 2, clear message, no Flow Service request."""
    sim = await make_sim(client_id=CLIENT_ID, client_secret="the-right-one")
    job = write_job(tmp_path, job_body([DEST_FLOW], ROLLOUT))
    status, _, err = await bulkflow(
        "run", str(job), "--log", str(tmp_path / "r.jsonl"), env=sim_env(sim)
    )
    assert status == 2
    assert "IMS refused the client credentials" in err
    assert "cli-test-secret" not in err
    assert sim.stats.count("GET") == 0


async def test_validate_reports_counts(tmp_path: Path) -> None:
    """``bulkflow validate`` checks without sending and says how many targets."""
    status, out, _ = await bulkflow("validate", "jobs/q4-segment-rollout.yaml")
    assert status == 0
    assert "200 targets" in out


async def test_json_diagnostics_have_stable_event_names(sim: Simulator, tmp_path: Path) -> None:
    """``--log-format json --log-level info``: one JSON object per stderr line, named events."""
    job = write_job(
        tmp_path, job_body([DEST_FLOW, SOURCE_FLOW], [{"set": {"path": "/name", "value": "n"}}])
    )
    status, _, err = await bulkflow(
        "run", str(job), "--log", str(tmp_path / "r.jsonl"), "--log-format", "json", "--log-level", "info",
        env=sim_env(sim),
    )  # fmt: skip
    assert status == 0, err
    events = [json.loads(line) for line in err.splitlines() if line.strip()]
    names = [e["event"] for e in events]
    assert names[0] == "run.started"
    assert names[-1] == "run.summary"
    assert events[-1]["counts"]["updated"] == 2
    assert all("timestamp" in e and "level" in e for e in events)


async def test_program_freezes_start_up_objects_but_importing_the_cli_does_not() -> None:
    """``bulkflow`` (cli.run) freezes what start-up built; a library import leaves gc alone."""
    probe = (
        "import atexit, gc, sys\n"
        "from bulkflow.cli import main as cli\n"
        "print('import', gc.isenabled(), gc.get_freeze_count(), gc.get_threshold()[0])\n"
        "atexit.register(lambda: print('run', gc.isenabled(), gc.get_freeze_count() > 0,"
        " gc.get_threshold()[0]))\n"
        "sys.argv = ['bulkflow', '--help']\n"
        "cli.run()\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", probe, stdout=asyncio.subprocess.PIPE, cwd=ROOT
    )
    out, _ = await proc.communicate()
    lines = [line for line in out.decode().splitlines() if line.startswith(("import", "run"))]
    assert lines == ["import True 0 700", "run True True 10000"]


async def test_jinja2_is_loaded_only_for_jobs_with_templates() -> None:
    """Checking a job without templates does not import Jinja2; one with templates does."""
    probe = (
        "import sys\n"
        "from bulkflow.cli.main import main\n"
        "main(['validate', sys.argv[1]])\n"
        "print('jinja2 loaded:', 'jinja2' in sys.modules)\n"
    )
    seen = []
    for job in ("jobs/source-schedule-weekly.yaml", "jobs/mapping-update.yaml"):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", probe, job, stdout=asyncio.subprocess.PIPE, cwd=ROOT
        )
        out, _ = await proc.communicate()
        seen.append(out.decode().splitlines()[-1])
    assert seen == ["jinja2 loaded: False", "jinja2 loaded: True"]
