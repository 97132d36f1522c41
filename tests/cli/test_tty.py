"""The console on a real terminal (a pty): colours, the progress line, Ctrl-C and resuming."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import orjson
import pexpect

from bulkflow.sim import Faults, Simulator
from tests.cli.test_cli import ROOT, bulkflow, sim_env
from tests.conftest import DEST_FLOW, SOURCE_FLOW, job_body, write_job

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?3[0-7](?:;[0-9;]*)?m")
ROLLOUT = [{"add_segment": {"id": "2d79d0d8-724f-49fc-a09d-d1dec338c93c", "name": "Winter"}}]
RENAME = [{"set": {"path": "/name", "value": "renamed"}}]


def spawn(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> pexpect.spawn:
    """``python -m bulkflow ARGS`` on a pseudo-terminal 200 columns wide."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AEP_", "NO_COLOR"))}
    # rich believes COLUMNS over the terminal's size, and pytest-xdist workers have it at 80.
    size = {"TERM": "xterm", "COLUMNS": "200", "LINES": "50"}
    return pexpect.spawn(
        sys.executable, ["-m", "bulkflow", *args], env=clean | size | (env or {}),
        cwd=str(cwd), encoding="utf-8", dimensions=(50, 200), timeout=30,
    )  # fmt: skip


async def finish(child: pexpect.spawn) -> tuple[int, str]:
    """Wait for the end; the exit status and everything the terminal showed."""
    await asyncio.to_thread(child.expect, pexpect.EOF)
    child.close()
    return child.exitstatus, child.before


def plain(screen: str) -> str:
    """The terminal's text without escape sequences, carriage returns as line ends."""
    return ANSI.sub("", screen).replace("\r\n", "\n").replace("\r", "\n")


def slow_job(tmp_path: Path, count: int) -> Path:
    """A rollout over ``count`` flows the simulator makes up when they are read."""
    (tmp_path / "ids.txt").write_text("".join(f"flow-{n:04d}\n" for n in range(count)))
    return write_job(tmp_path, job_body({"file": "ids.txt"}, ROLLOUT))


async def test_plan_signs_are_coloured_on_a_terminal(sim: Simulator, tmp_path: Path) -> None:
    """On a TTY ``+`` lines are drawn green (and ``~`` yellow)."""
    job = write_job(tmp_path, job_body([DEST_FLOW], [*ROLLOUT, *RENAME]))
    status, screen = await finish(spawn("plan", str(job), env=sim_env(sim)))
    assert status == 0, screen
    assert re.search(r"\x1b\[32m  \+ audience", screen), screen
    assert re.search(r"\x1b\[33m  ~ /name", screen), screen


async def test_no_colour_with_no_color_set(sim: Simulator, tmp_path: Path) -> None:
    """``NO_COLOR=1`` on a TTY: the plan has no colour codes at all."""
    job = write_job(tmp_path, job_body([DEST_FLOW], ROLLOUT))
    status, screen = await finish(spawn("plan", str(job), env=sim_env(sim) | {"NO_COLOR": "1"}))
    assert status == 0, screen
    assert "+ audience" in screen
    assert not COLOUR.search(screen), screen


async def test_no_colour_off_a_terminal(sim: Simulator, tmp_path: Path) -> None:
    """Piped output carries no escape sequences."""
    job = write_job(tmp_path, job_body([DEST_FLOW], ROLLOUT))
    status, out, err = await bulkflow("plan", str(job), env=sim_env(sim))
    assert status == 0, err
    assert "+ audience" in out
    assert "\x1b[" not in out + err


async def test_progress_line_is_cleared_before_the_plan(sim: Simulator, tmp_path: Path) -> None:
    """No plan line shares a terminal line with the progress bar (its ETA, its counts)."""
    job = write_job(tmp_path, job_body([DEST_FLOW, SOURCE_FLOW], RENAME))
    status, screen = await finish(spawn("plan", str(job), env=sim_env(sim)))
    assert status == 0, screen
    lines = plain(screen).split("\n")
    plan_lines = [line for line in lines if "~ /name" in line or line.startswith("2 flows")]
    assert len(plan_lines) == 2, screen
    assert not [line for line in plan_lines if "ETA" in line or "/2" in line], plan_lines


async def interrupted_run(
    make_sim: Any, tmp_path: Path, twice: bool = False
) -> tuple[int, str, Path, Simulator]:
    """Start a slow 200-flow run on a TTY, press Ctrl-C once it is under way (twice: again
    while targets are in flight); return status, screen, log and simulator."""
    sim = await make_sim(Faults(latency_ms=400), on_demand=True)
    job = slow_job(tmp_path, 200)
    log = tmp_path / "run.jsonl"
    args = ("run", str(job), "--log", str(log), "--concurrency", "4", "--no-batch-fetch")
    child = spawn(*args, env=sim_env(sim), cwd=tmp_path)
    await asyncio.to_thread(child.expect, r"[1-9]\d* ?/ ?2")
    child.sendintr()
    if twice:
        await asyncio.to_thread(child.expect, "Stopping")
        child.sendintr()
    status, screen = await finish(child)
    return status, screen, log, sim


async def test_ctrl_c_summary_counts_done_not_started_in_flight(
    make_sim: Any, tmp_path: Path
) -> None:
    """After Ctrl-C the summary says how many of all targets are done and how many not started."""
    status, screen, log, _ = await interrupted_run(make_sim, tmp_path)
    assert status == 130, screen
    recorded = sum(1 for line in log.read_bytes().splitlines() if b'"type":"result"' in line)
    text = plain(screen)
    match = re.search(r"Interrupted: (\d+) of 200 targets done, (\d+) not started", text)
    assert match, text
    assert int(match[1]) == recorded
    assert int(match[1]) + int(match[2]) == 200  # nothing was cut off in flight


async def test_no_structlog_line_after_ctrl_c(make_sim: Any, tmp_path: Path) -> None:
    """The terminal shows words after ^C, not a raw ``[warning] run.stopping`` event."""
    status, screen, _, _ = await interrupted_run(make_sim, tmp_path)
    assert status == 130, screen
    assert "run.stopping" not in screen
    assert "[warning" not in plain(screen)
    assert "Stopping: no new targets start" in plain(screen)


async def test_resume_command_can_be_pasted(make_sim: Any, tmp_path: Path) -> None:
    """The resume command printed after Ctrl-C, run as printed, finishes the run and says how
    many targets were already done."""
    status, screen, log, sim = await interrupted_run(make_sim, tmp_path)
    assert status == 130, screen
    text = plain(screen)
    command = text.split("Resume (targets not done yet, failed ones included) with:\n")[1]
    words = shlex.split(command.split("\n")[0])
    done = len({orjson.loads(line)["id"] for line in log.read_bytes().splitlines()[1:-1]})
    proc = await asyncio.create_subprocess_exec(
        *words, "--concurrency", "32", cwd=tmp_path, env=os.environ | sim_env(sim),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err
    assert f"Resuming {log}: {done} targets done there are skipped." in out.decode()
    assert "Run: " in out.decode()


async def test_second_ctrl_c_says_it_stops_now(make_sim: Any, tmp_path: Path) -> None:
    """A second Ctrl-C says in-flight targets are cancelled, and the summary counts them."""
    status, screen, _, _ = await interrupted_run(make_sim, tmp_path, twice=True)
    assert status == 130, screen
    text = plain(screen)
    assert "Stopping now: targets still in flight are cancelled and not recorded" in text
    assert re.search(r"\d+ stopped in flight \(not recorded", text), text
