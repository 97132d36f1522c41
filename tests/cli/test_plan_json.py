"""``plan --format json``: one document, valid against docs/plan.schema.json, as the golden file."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bulkflow.sim import Simulator
from tests.cli.test_cli import ROOT, bulkflow, sim_env
from tests.conftest import DEST_FLOW, SOURCE_FLOW, job_body, write_job

SCHEMA = json.loads((ROOT / "docs" / "plan.schema.json").read_text())
GOLDEN = Path(__file__).parent / "data" / "plan-golden.json"
DONE_FLOW = "0a1b2c3d-0000-4000-8000-000000000001"
RETIRED = "9f7d37fd-7039-4454-94ef-2b0cd6c3206a"
CHANGES = [
    {"set": {"path": "/name", "value": "Renamed"}},
    {"remove_segment": {"id": RETIRED}},
    {"set_state": "disabled"},
]


async def plan_json(sim: Simulator, tmp_path: Path) -> tuple[int, dict[str, Any], str]:
    """Plan a job with a planned, an unchanged, a failed and a missing target; the document."""
    done = sim.store.ensure("flows", DONE_FLOW)
    done.update(name="Renamed", state="disabled")
    for transformation in done["transformations"]:
        selectors = transformation["params"].get("segmentSelectors", {}).get("selectors", [])
        selectors[:] = [s for s in selectors if s["value"]["id"] != RETIRED]
    targets = [DEST_FLOW, DONE_FLOW, SOURCE_FLOW, "no-such-flow"]
    job = write_job(tmp_path, job_body(targets, CHANGES))
    status, out, err = await bulkflow(
        "plan", str(job), "--format", "json", env=sim_env(sim), cwd=tmp_path
    )
    return status, json.loads(out), err


def normalised(document: dict[str, Any], sim: Simulator, tmp_path: Path) -> dict[str, Any]:
    """The document with what differs between machines and runs put as placeholders."""
    document["bulkflow"] = "VERSION"
    run = document["run"] | {"job_file": "JOB", "operator": "USER@HOST"}
    document["run"] = run | {"base_url": run["base_url"].replace(str(sim.port), "PORT")}
    text = json.dumps(document).replace(sim.root_url, "http://127.0.0.1:PORT")
    result: dict[str, Any] = json.loads(text.replace(str(tmp_path), "TMP"))
    return result


async def test_plan_json_is_valid_against_the_schema(sim: Simulator, tmp_path: Path) -> None:
    """The document validates against docs/plan.schema.json."""
    status, document, err = await plan_json(sim, tmp_path)
    assert status == 1, err  # one target fails to plan, one is not found
    jsonschema.validate(document, SCHEMA, cls=jsonschema.Draft202012Validator)


async def test_plan_json_matches_the_golden_file(sim: Simulator, tmp_path: Path) -> None:
    """Per target: id, name, actions, ops, before/after; counts; format version (golden)."""
    _, document, _ = await plan_json(sim, tmp_path)
    got = normalised(document, sim, tmp_path)
    if os.environ.get("BULKFLOW_GOLDEN") == "write":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n")
    assert got == json.loads(GOLDEN.read_text())


async def test_plan_json_is_alone_on_stdout(sim: Simulator, tmp_path: Path) -> None:
    """stdout is the document only; the summary goes to stderr."""
    job = write_job(tmp_path, job_body([DEST_FLOW], CHANGES[:1]))
    status, out, err = await bulkflow("plan", str(job), "--format", "json", env=sim_env(sim))
    assert status == 0, err
    assert json.loads(out)["counts"]["planned"] == 1
    assert "Plan: 1 to change" in err


def test_the_schema_is_a_valid_schema() -> None:
    """docs/plan.schema.json is itself valid JSON Schema (2020-12)."""
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("secret", ["hunter2-rotated-password", "tok-0123456789abcdef"])
async def test_plan_json_holds_no_secret(sim: Simulator, tmp_path: Path, secret: str) -> None:
    """Credentials a rotation sends read ``***`` in ops and before/after, nowhere in full."""
    secrets_ = {"pw": {"env": "SF_PW"}}
    params = {"username": "u", "password": "{{ secrets.pw }}"}
    body = job_body(
        ["139f6a5f-a78b-4744-9f6a-5fa78bd74431"],
        [{"rotate_credentials": {"params": params}}],
        resource="connections",
        secrets=secrets_,
    )
    job = write_job(tmp_path, body)
    env = sim_env(sim) | {"SF_PW": secret}
    status, out, err = await bulkflow("plan", str(job), "--format", "json", env=env)
    assert status == 0, err
    assert secret not in out + err
    change = json.loads(out)["targets"][0]["changes"][0]
    assert change == {
        "op": "replace", "path": "/auth/params", "sensitive": True, "before": "***", "after": "***",
    }  # fmt: skip
    assert re.search(r'"password": "\*\*\*"', out)
