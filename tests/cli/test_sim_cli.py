"""``bulkflow sim`` for a newcomer: the example jobs work against it, its banner is enough."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cli.test_cli import ROOT, bulkflow


@pytest.fixture
async def standalone() -> AsyncIterator[list[str]]:
    """``bulkflow sim --port 0`` in the repository, as a newcomer starts it; its banner lines."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bulkflow", "sim", "--port", "0",
        stdout=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        while not lines or not lines[-1].startswith("Ctrl-C"):
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
            assert line, lines
            lines.append(line.decode().rstrip("\n"))
        yield lines
    finally:
        proc.terminate()
        await proc.wait()


def exported(lines: list[str]) -> dict[str, str]:
    """The variables the banner tells to export."""
    pairs = (re.fullmatch(r"  export (AEP_\w+)=(\S+)", line) for line in lines)
    return {m[1]: m[2] for m in pairs if m}


async def test_banner_names_every_variable_a_run_needs(standalone: list[str]) -> None:
    """Base URL, IMS URL, client id and secret, org id and sandbox, each ready to paste."""
    assert set(exported(standalone)) == {
        "AEP_BASE_URL", "AEP_IMS_URL", "AEP_CLIENT_ID", "AEP_CLIENT_SECRET", "AEP_ORG_ID",
        "AEP_SANDBOX",
    }  # fmt: skip


@pytest.mark.parametrize(
    "job", ["jobs/q4-segment-rollout.yaml", "jobs/source-schedule-weekly.yaml"]
)
async def test_example_jobs_plan_against_the_banner_environment(
    standalone: list[str], job: str, tmp_path: Path
) -> None:
    """With only what the banner says, the example jobs plan every target (none missing)."""
    env = exported(standalone)
    status, out, err = await bulkflow("plan", str(ROOT / job), env=env, cwd=tmp_path)
    assert status == 0, out + err
    assert "0 failed" in out


async def test_busy_port_is_an_input_error(tmp_path: Path) -> None:
    """A port another process holds: exit 2 naming it, no traceback or internal error."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        status, _, err = await bulkflow("sim", "--port", str(port), "--no-jobs", cwd=tmp_path)
    assert status == 2, err
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in err


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot read the --load file: No such file or directory"),
        ("{not json", "the --load file is not JSON"),
        ('{"flows": [{"name": "no id"}]}', "flows: every document is an object with a string id"),
    ],
)
async def test_bad_load_file_is_an_input_error(
    tmp_path: Path, content: str | None, reason: str
) -> None:
    """A ``--load`` file that is missing or holds no documents: exit 2 with the reason."""
    path = tmp_path / "docs.json"
    if content is not None:
        path.write_text(content)
    status, _, err = await bulkflow("sim", "--port", "0", "--load", str(path), cwd=tmp_path)
    assert status == 2, err
    assert f"{path}: {reason}" in err


async def test_jobs_flag_names_a_missing_file() -> None:
    """``--jobs`` naming nothing: exit 2."""
    status, _, err = await bulkflow("sim", "--port", "0", "--jobs", os.devnull + "-missing")
    assert status == 2, err
    assert "no job file or folder here (--jobs)" in err
