"""What an attacker tried (a hostile server, hand-edited files, odd paths): each refused cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from bulkflow.records.savedplan import _digest
from bulkflow.sim import Simulator
from tests.cli.test_cli import ROOT, bulkflow, sim_env
from tests.conftest import DEST_FLOW, job_body, write_job
from tests.hostile import hostile_server

TOKEN = "tok-3f9a8b7c6d5e4f"
RENAME = [{"set": {"path": "/name", "value": "renamed"}}]


def token_env(base_url: str) -> dict[str, str]:
    """bulkflow pointed at ``base_url`` with the planted token."""
    return {
        "AEP_BASE_URL": base_url,
        "AEP_ACCESS_TOKEN": TOKEN,
        "AEP_CLIENT_ID": "c",
        "AEP_ORG_ID": "o",
    }


async def echo_token(request: web.Request) -> web.StreamResponse:
    """A server that puts the bearer token into names, etags and ids."""
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if request.method == "PATCH":
        return web.json_response({"id": DEST_FLOW, "etag": token})
    doc = {"id": DEST_FLOW, "name": f"hello Bearer {token}", "etag": token, "state": "enabled"}
    return web.json_response({"items": [doc]})


async def test_server_text_in_names_etags_and_ids_is_masked(tmp_path: Path) -> None:
    """A server echoing the token into a name, an etag or a PATCH answer: never written out."""
    job = write_job(tmp_path, job_body([DEST_FLOW], RENAME))
    outputs = []
    async with hostile_server(echo_token) as server:
        for command in (["plan", "--out", str(tmp_path / "p.json")], ["run"]):
            log = tmp_path / f"{command[0]}.jsonl"
            status, out, err = await bulkflow(
                command[0],
                str(job),
                *command[1:],
                "--log",
                str(log),
                env=token_env(server.base_url),
            )
            assert status in (0, 1), err
            outputs += [out, err, log.read_text()]
    outputs.append((tmp_path / "p.json").read_text())
    assert all(TOKEN not in text for text in outputs)
    assert all(TOKEN[:8] not in text for text in outputs)


async def test_real_retry_of_a_dry_run_log_into_a_new_log_is_refused(
    sim: Simulator, tmp_path: Path
) -> None:
    """``retry DRY --no-dry-run --log NEW``: the retried log's kind counts, not only NEW's."""
    job = write_job(tmp_path, job_body([DEST_FLOW, "late-flow"], RENAME))
    dry = tmp_path / "dry.jsonl"
    await bulkflow("plan", str(job), "--log", str(dry), env=sim_env(sim))
    sim.store.ensure("flows", "late-flow")
    sim.stats.reset()
    status, _, err = await bulkflow(
        "retry", str(dry), "--no-dry-run", "--log", str(tmp_path / "new.jsonl"), env=sim_env(sim)
    )
    assert status == 2, err
    assert sim.stats.count() == 0


async def test_markup_in_a_server_message_is_shown_as_text(tmp_path: Path) -> None:
    """A 400 whose message holds rich markup (``[/oops]``, ``[link=…]``): exit 1, shown as is."""

    async def markup(request: web.Request) -> web.StreamResponse:
        if request.method == "PATCH":
            message = "bad [/oops] and [link=http://evil.example]click[/link]"
            return web.json_response({"message": message}, status=400)
        return await echo_token(request)

    job = write_job(tmp_path, job_body([DEST_FLOW], RENAME))
    async with hostile_server(markup) as server:
        status, out, err = await bulkflow(
            "run", str(job), "--log", str(tmp_path / "r.jsonl"), env=token_env(server.base_url)
        )
    assert status == 1, err
    assert "[/oops]" in out
    assert "internal error" not in err


@pytest.mark.timeout(20)
async def test_a_fifo_as_plan_file_is_refused_unread(tmp_path: Path) -> None:
    """``bulkflow apply FIFO``: exit 2 at once, not blocked reading a pipe."""
    os.mkfifo(tmp_path / "plan.json")
    status, _, err = await bulkflow("apply", str(tmp_path / "plan.json"))
    assert status == 2
    assert "not a regular file" in err


@pytest.mark.parametrize("field", ["job_file", "job_digest", "targets"])
async def test_plan_file_missing_a_field_is_input(tmp_path: Path, field: str) -> None:
    """A hand-edited plan with its digest recomputed but a field gone or mistyped: exit 2."""
    body = {
        "bulkflow_plan": 1,
        "job": "test-job",
        "job_file": str(tmp_path / "job.yaml"),
        "job_digest": "sha256:0",
        "resource": "flows",
        "targets": [],
    }
    body[field] = 123
    body["digest"] = _digest(body)
    plan = tmp_path / "plan.json"
    plan.write_bytes(orjson.dumps(body))
    status, out, err = await bulkflow("apply", str(plan))
    assert status == 2, err
    assert "Traceback" not in out + err
    assert field in err


@pytest.mark.parametrize("job_file", [None, 123])
async def test_log_header_without_a_usable_job_file_is_input(
    tmp_path: Path, job_file: object
) -> None:
    """``retry`` of a hand-edited log whose header lacks ``job_file``: exit 2, not a KeyError."""
    header = {"type": "run", "job": "test-job", "digest": "sha256:0", "dry_run": False}
    if job_file is not None:
        header["job_file"] = job_file
    log = tmp_path / "run.jsonl"
    log.write_text(json.dumps(header) + "\n")
    status, _, err = await bulkflow("retry", str(log))
    assert status == 2, err
    assert "job_file" in err


@pytest.mark.parametrize(
    ("value", "what"),
    [("!!binary aGVsbG8=", "binary"), ("123456789012345678901234567890", "integer"),
     (".nan", "number"), ("-.inf", "number")],
)  # fmt: skip
async def test_job_values_json_cannot_carry_are_refused(
    tmp_path: Path, value: str, what: str
) -> None:
    """Values a PATCH body cannot carry (bytes, huge integers, NaN, infinity): exit 2 with a line."""
    job = tmp_path / "job.yaml"
    job.write_text(
        "version: 1\nname: odd\nresource: flows\ntargets: [f1]\n"
        f"changes:\n  - set: {{path: /x, value: {value}}}\n"
    )
    status, out, err = await bulkflow("validate", str(job))
    assert status == 2, out
    assert f"{job}:6: " in err
    assert what in err


@pytest.mark.parametrize("target", ["job", "log", "symlink"])
async def test_plan_out_never_overwrites_the_job_the_log_or_a_link(
    sim: Simulator, tmp_path: Path, target: str
) -> None:
    """``plan --out`` naming the job file, the log, or a symlink: exit 2, nothing overwritten."""
    job = write_job(tmp_path, job_body([DEST_FLOW], RENAME))
    log = tmp_path / "p.jsonl"
    out_path = {"job": job, "log": log, "symlink": tmp_path / "link.json"}[target]
    if target == "symlink":
        out_path.symlink_to(job)
    before = job.read_bytes()
    status, _, err = await bulkflow(
        "plan", str(job), "--out", str(out_path), "--log", str(log), env=sim_env(sim)
    )
    assert status == 2, err
    assert job.read_bytes() == before
    assert sim.stats.count() == 0


async def test_client_secret_is_masked_even_in_validate(tmp_path: Path) -> None:
    """A targets file that is a ``.env``: validate's message does not show AEP_CLIENT_SECRET."""
    secret = "cs-9d8c7b6a5f4e3d"
    (tmp_path / ".env").write_text(f"AEP_CLIENT_SECRET={secret}\n")
    job = write_job(tmp_path, job_body({"file": ".env"}, RENAME))
    status, out, err = await bulkflow("validate", str(job), env={"AEP_CLIENT_SECRET": secret})
    assert status == 2
    assert secret not in out + err
    assert secret[:8] not in out + err


@pytest.mark.timeout(30)
async def test_sigterm_while_resolving_a_query_stops_the_run(tmp_path: Path) -> None:
    """Before the engine starts (a slow query), SIGTERM still ends the run: exit 130."""

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(20)
        return web.json_response({"items": []})

    body = job_body({"query": {"property": ["state==enabled"]}}, RENAME)
    job = write_job(tmp_path, body)
    async with hostile_server(slow) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AEP_")}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bulkflow", "run", str(job), "--log", str(tmp_path / "r.jsonl"),
            env=env | token_env(server.base_url), cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        while not server.seen:  # noqa: ASYNC110 - a server of the test, polled briefly
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 130


@pytest.mark.parametrize("where", ["runs", "out"])
async def test_a_dangling_symlink_on_the_way_to_an_output_is_input(
    sim: Simulator, tmp_path: Path, where: str
) -> None:
    """``runs`` (or ``--out``'s folder) a dangling symlink: exit 2 before any request, not 70."""
    job = write_job(tmp_path, job_body([DEST_FLOW], RENAME))
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere" / "deeper")
    if where == "runs":
        (tmp_path / "runs").symlink_to(tmp_path / "nowhere" / "runs")
        args = ["run", str(job), "--dry-run"]  # plan without --log writes no log
    else:
        args = ["plan", str(job), "--out", str(tmp_path / "gone" / "p.json"), "--log", "l.jsonl"]
    status, _, err = await bulkflow(*args, env=sim_env(sim), cwd=tmp_path)
    assert status == 2, err
    assert sim.stats.count() == 0


@pytest.mark.parametrize("key", ["sim", "dry_run"])
async def test_a_header_flag_that_is_not_a_boolean_is_refused(
    sim: Simulator, tmp_path: Path, key: str
) -> None:
    """``"sim": "false"`` (a string) in a hand-edited header: retry refuses the log, exit 2."""
    job = write_job(tmp_path, job_body([DEST_FLOW, "late-flow"], RENAME))
    log = tmp_path / "run.jsonl"
    await bulkflow("run", str(job), "--log", str(log), env=sim_env(sim))
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    lines[0][key] = "false"
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    sim.stats.reset()
    status, _, err = await bulkflow("retry", str(log), env=sim_env(sim))
    assert status == 2, err
    assert key in err
    assert sim.stats.count() == 0


async def test_retry_of_a_query_log_keeps_to_the_resolved_targets(
    sim: Simulator, tmp_path: Path
) -> None:
    """A failed record for an id the query never selected (an edited log): retry leaves it alone."""
    body = job_body({"query": {"property": ["name==2021 winter campaign"]}}, RENAME)
    job = write_job(tmp_path, body)
    log = tmp_path / "q.jsonl"
    status, _, err = await bulkflow("run", str(job), "--log", str(log), env=sim_env(sim))
    assert status == 0, err
    injected = {"type": "result", "id": "2edc08ac-4df5-4fe6-936f-81a19ce92f5c", "status": "failed"}
    with log.open("a") as handle:
        handle.write(json.dumps(injected) + "\n")
    before = sim.doc("flows", injected["id"])
    await bulkflow("retry", str(log), env=sim_env(sim))
    assert sim.doc("flows", injected["id"]) == before


async def test_a_plan_naming_a_target_twice_is_refused(sim: Simulator, tmp_path: Path) -> None:
    """A plan whose targets list one id twice (an edited plan): exit 2, nothing sent."""
    job = write_job(tmp_path, job_body([DEST_FLOW], RENAME))
    plan = tmp_path / "plan.json"
    await bulkflow(
        "plan", str(job), "--out", str(plan), "--log", "p.jsonl", env=sim_env(sim), cwd=tmp_path
    )
    body = json.loads(plan.read_text())
    body["targets"].append(body["targets"][0] | {"changes": ["unreviewed"]})
    body.pop("digest")
    body["digest"] = _digest(body)
    plan.write_text(json.dumps(body))
    sim.stats.reset()
    status, _, err = await bulkflow("apply", str(plan), env=sim_env(sim), cwd=tmp_path)
    assert status == 2, err
    assert "twice" in err
    assert sim.stats.count() == 0


async def test_results_before_any_run_header_are_refused(sim: Simulator, tmp_path: Path) -> None:
    """A log that starts with results, not a run header: not a log to add a run to, exit 2."""
    job = write_job(tmp_path, job_body([DEST_FLOW], RENAME))
    log = tmp_path / "run.jsonl"
    await bulkflow("run", str(job), "--log", str(log), env=sim_env(sim))
    lines = log.read_text().splitlines()
    log.write_text("\n".join([lines[1], *lines]) + "\n")
    sim.stats.reset()
    status, _, err = await bulkflow("run", str(job), "--log", str(log), env=sim_env(sim))
    assert status == 2, err
    assert sim.stats.count() == 0
