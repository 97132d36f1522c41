"""Running jobs in-process against a simulator, for engine and CLI tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bulkflow.engine.pool import Summary
from bulkflow.flowservice.settings import Settings
from bulkflow.job.jobfile import load_job
from bulkflow.job.prepare import PreparedJob, prepare
from bulkflow.records.resultlog import read_log
from bulkflow.runconfig import RunConfig
from bulkflow.runner import RunPlan, execute
from bulkflow.sim import Simulator
from tests.conftest import write_job


def sim_settings(sim: Simulator, **extra: Any) -> Settings:
    """Settings that point at ``sim`` (its IMS accepts any client by default)."""
    values: dict[str, Any] = {
        "base_url": sim.base_url,
        "ims_url": sim.ims_url,
        "client_id": "engine-test",
        "client_secret": SecretStr("engine-test-secret"),
        "org_id": "TEST@AdobeOrg",
        "access_token": None,
    }
    return Settings(**(values | extra))


def prepared(tmp_path: Path, body: dict[str, Any]) -> PreparedJob:
    """Write, load and prepare a job."""
    return prepare(load_job(write_job(tmp_path, body)))


async def run_job(
    sim: Simulator,
    tmp_path: Path,
    body: dict[str, Any],
    log_name: str = "run.jsonl",
    **options: Any,
) -> tuple[Summary, list[dict[str, Any]]]:
    """Run a job against ``sim``; return the summary and the result records of this run."""
    job = prepared(tmp_path, body)
    plan_fields = {k: options.pop(k) for k in ("resume", "only", "force") if k in options}
    plan = RunPlan(config=RunConfig(**options), log_path=tmp_path / log_name, **plan_fields)
    summary = await execute(job, sim_settings(sim), plan)
    records = list(read_log(tmp_path / log_name))
    last_run = max(i for i, r in enumerate(records) if r["type"] == "run")
    return summary, [r for r in records[last_run:] if r["type"] == "result"]


def selectors(sim: Simulator, flow_id: str, holder: str = "segmentSelectors") -> list[Any]:
    """The selectors of a flow as the simulator holds them now."""
    doc = sim.doc("flows", flow_id)
    assert doc is not None
    for transformation in doc["transformations"]:
        if holder in transformation.get("params", {}):
            found: list[Any] = transformation["params"][holder]["selectors"]
            return found
    raise AssertionError(f"{flow_id} has no {holder}")


def segment_ids(sim: Simulator, flow_id: str) -> list[str]:
    """Audience ids a flow exports, in order."""
    return [s["value"]["id"] for s in selectors(sim, flow_id)]
