"""Attack on the console / plan-json / identity / sim work (issue 17): each test is one finding."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import sys
from pathlib import Path

import yaml
from aiohttp import web

from tests.cli.hostile.hostile_flow import HostileFlows, env_for, flow, serve
from tests.cli.test_cli import ROOT, bulkflow

ESC_NAME = "evil\x1b]0;PWNED-TITLE\x07\x1b[2J\x1b[31mRED\x1b[0m"
SECRET = "S3cretJobValue-XYZ-987"
RETIRED = "9f7d37fd-7039-4454-94ef-2b0cd6c3206a"
IDS = [f"11111111-1111-4111-8111-11111111111{n}" for n in range(3)]


def job(tmp_path: Path, targets: object, changes: list[object], **extra: object) -> Path:
    body = {"version": 1, "name": "attack", "resource": "flows", "targets": targets}
    body |= {"changes": changes, **extra}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def server_with(*docs: dict[str, object]) -> HostileFlows:
    return HostileFlows(docs={str(d["id"]): d for d in docs})


# 1. Terminal escape sequences from the service reach the terminal.
async def test_service_names_cannot_write_escape_sequences_to_the_terminal(tmp_path: Path) -> None:
    """Service names cannot write escape sequences to the terminal."""
    docs = [flow(i, ESC_NAME, ESC_NAME) for i in IDS]
    path = job(tmp_path, IDS[:2], [{"remove_segment": {"id": RETIRED}}])
    async with serve(server_with(*docs)) as srv:
        for extra in ([], ["--show-ids"]):
            status, out, err = await bulkflow("plan", str(path), *extra, env=env_for(srv))
            assert status == 0, err
            assert "\x1b" not in out + err
            assert "\x07" not in out + err
        status, out, err = await bulkflow("targets", str(path), env=env_for(srv))
        assert "\x1b" not in out + err


# 2. An id a query selects that bulkflow itself calls invalid is PATCHed, and then the log
#    cannot be undone (or resumed) at all.
async def test_a_run_that_patched_query_targets_can_be_undone(tmp_path: Path) -> None:
    """A run that patched query targets can be undone."""
    odd = "flow with space"
    srv = server_with(flow(IDS[0], "ok", "s"), flow(odd, "odd", "s"))
    path = job(
        tmp_path, {"query": {"property": ["state==enabled"]}}, [{"remove_segment": {"id": RETIRED}}]
    )
    log = tmp_path / "run.jsonl"
    async with serve(srv):
        _status, _, err = await bulkflow("run", str(path), "--log", str(log), env=env_for(srv))
        patched_odd = any(s.startswith("PATCH") and "flow%20with%20space" in s for s in srv.seen)
        undo, _out, err = await bulkflow("undo", str(log), "--dry-run", env=env_for(srv))
    assert not (patched_odd and undo == 2), f"run PATCHed {odd!r}; undo refuses the log: {err}"


# 3. `targets --ids-only` prints ids the service lists unmasked (secrets, escapes).
async def test_targets_ids_only_masks_secrets(tmp_path: Path) -> None:
    """Targets ids only masks secrets."""
    srv = server_with(flow("client-secret-value-1234", "n", "s"))
    path = job(
        tmp_path, {"query": {"property": ["state==enabled"]}}, [{"remove_segment": {"id": RETIRED}}]
    )
    async with serve(srv):
        status, out, err = await bulkflow("targets", str(path), "--ids-only", env=env_for(srv))
    assert status == 0, err
    assert "client-secret-value-1234" not in out  # the table form prints ***


# 4. An interrupted `plan --out` saves a partial plan and offers to apply it.
async def test_interrupted_plan_out_is_not_offered_for_apply(tmp_path: Path) -> None:
    """Interrupted plan out is not offered for apply."""
    proc_box: list[asyncio.subprocess.Process] = []

    async def ctrl_c_on_second_target(request: web.Request) -> None:
        if request.method == "GET" and request.path.endswith(IDS[1]):
            proc_box[0].send_signal(signal.SIGINT)
            await asyncio.sleep(0.3)

    srv = server_with(*(flow(i, "n", "s") for i in IDS))
    srv.hook = ctrl_c_on_second_target
    path = job(tmp_path, IDS, [{"remove_segment": {"id": RETIRED}}])
    plan = tmp_path / "plan.json"
    async with serve(srv):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AEP_")} | env_for(srv)
        args = ["plan", str(path), "--out", str(plan), "--no-batch-fetch", "--concurrency", "1"]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bulkflow", *args, cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        proc_box.append(proc)
        out, _ = await proc.communicate()
    assert proc.returncode == 130
    assert not plan.exists() or json.loads(plan.read_text()).get("complete") is False
    assert "Apply it with" not in out.decode()


# 5. The current value under a `password` key (outside /auth/params) is printed and logged,
#    though the same record's `before` withholds it as a secret.
async def test_old_password_outside_auth_params_is_not_shown(tmp_path: Path) -> None:
    """Old password outside auth params is not shown."""
    doc = flow(IDS[0], "n", "s") | {"params": {"password": "OldServerPw-777"}}
    path = job(
        tmp_path,
        [IDS[0]],
        [{"set": {"path": "/params/password", "value": "{{ secrets.pw }}"}}],
        secrets={"pw": {"env": "ATTACK_PW"}},
    )
    log = tmp_path / "p.jsonl"
    async with serve(server_with(doc)) as srv:
        env = env_for(srv, ATTACK_PW=SECRET)
        args = ["plan", str(path), "--format", "json", "--log", str(log)]
        status, out, err = await bulkflow(*args, env=env)
    assert status == 0, err
    assert "OldServerPw-777" not in out + err + log.read_text()


# 6. A password in AEP_BASE_URL's query string is in every debug `http.request` event.
async def test_debug_log_does_not_show_the_base_url_query(tmp_path: Path) -> None:
    """Debug log does not show the base url query."""
    path = job(tmp_path, [IDS[0]], [{"remove_segment": {"id": RETIRED}}])
    async with serve(server_with(flow(IDS[0], "n", "s"))) as srv:
        env = env_for(srv)
        env["AEP_BASE_URL"] += "?sig=QuerySecretPassword77"
        args = ["plan", str(path), "--log-format", "json", "--log-level", "debug"]
        _status, out, err = await bulkflow(*args, env=env)
    assert "QuerySecretPassword77" not in out + err


# 7. A sandbox named like a secret is printed (the org id in the same line is masked).
async def test_sandbox_equal_to_a_secret_is_masked_like_the_org_id(tmp_path: Path) -> None:
    """Sandbox equal to a secret is masked like the org id."""
    secret = "prodsecretsandbox1"
    path = job(
        tmp_path,
        [IDS[0]],
        [{"set": {"path": "/description", "value": "{{ secrets.pw }}"}}],
        secrets={"pw": {"env": "ATTACK_PW"}},
    )
    log = tmp_path / "s.jsonl"
    async with serve(server_with(flow(IDS[0], "n", "s"))) as srv:
        env = env_for(srv, ATTACK_PW=secret, AEP_SANDBOX=secret)
        status, out, err = await bulkflow("plan", str(path), "--log", str(log), env=env)
        assert status == 0, err
        _, report, _ = await bulkflow("report", str(log), "--format", "md")
    assert secret not in out + err
    assert secret not in report


# 8. A client secret kept in .env (not exported) is not masked in early error messages.
async def test_client_secret_in_dotenv_is_masked_in_errors(tmp_path: Path) -> None:
    """Client secret in dotenv is masked in errors."""
    (tmp_path / ".env").write_text("AEP_CLIENT_SECRET=DotEnvSecretValue-998877\n")
    path = job(tmp_path, {"file": ".env"}, [{"set_state": "disabled"}])
    status, out, err = await bulkflow("validate", str(path), cwd=tmp_path)
    assert status == 2
    assert "DotEnvSecretValue-998877" not in out + err


# 9. `plan` without --log says the changes beyond the groups kept are "in the result log",
#    which it deleted.
async def test_plan_without_log_does_not_point_at_a_log_it_removed(tmp_path: Path) -> None:
    """Plan without log does not point at a log it removed."""
    targets = [{"id": i, "vars": {"d": f"description {n}"}} for n, i in enumerate(IDS)]
    path = job(tmp_path, targets, [{"set": {"path": "/description", "value": "{{ d }}"}}])
    code = (
        "import bulkflow.records.groups as g; g.MAX_GROUPS = 1; "
        "from bulkflow.cli.main import run; run()"
    )
    async with serve(server_with(*(flow(i, "n", "s") for i in IDS))) as srv:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AEP_")} | env_for(srv)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, "plan", str(path), cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
    assert proc.returncode == 0, err
    assert "yet other changes" in out.decode()
    assert "in the result log" not in out.decode(), "no result log was kept"


# 10. The simulator's banner suggests an unquoted command built from a job file's name.
async def test_sim_banner_try_line_is_safe_to_paste(tmp_path: Path) -> None:
    """Sim banner try line is safe to paste."""
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    name = "$(touch${IFS}PWNED).yaml"
    (jobs / name).write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "name": "x",
                "resource": "flows",
                "targets": [IDS[0]],
                "changes": [{"set_state": "disabled"}],
            }
        )
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bulkflow", "sim", "--port", "0", cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        line = b""
        while b"Then try:" not in line:
            line = await asyncio.wait_for(proc.stdout.readline(), 20)  # type: ignore[union-attr]
            assert line, "the simulator ended before its banner"
    finally:
        proc.terminate()
        await proc.wait()
    suggested = line.decode().split("Then try:", 1)[1].strip()
    assert shlex.split(suggested)[-1] == f"jobs/{name}", suggested
    assert "$(" not in suggested or f"'jobs/{name}'" in suggested


# 11. A job file of 1.2 MB with 40,000 wrong values: every error printed, seconds and hundreds
#     of MB (the README: hostile files are refused "in well under a second").
async def test_many_errors_in_a_job_file_are_cut_short(tmp_path: Path) -> None:
    """Many errors in a job file are cut short."""
    head = "version: 1\nname: ok\nresource: flows\ntargets: [a]\nchanges: [{set_state: disabled}]\n"
    body = "vars:\n" + "".join(f"  k{n}: [{n}, {n}]\n" for n in range(40_000))
    path = tmp_path / "job.yaml"
    path.write_text(head + body)
    status, _out, err = await bulkflow("validate", str(path))
    assert status == 2
    assert len(err.splitlines()) <= 1000, f"{len(err.splitlines()):,} error lines"


# 12. A hang-up (terminal closed, ssh dropped) during `plan` leaves its scratch log behind.
async def test_plan_hangup_leaves_no_scratch_log(tmp_path: Path) -> None:
    """Plan hangup leaves no scratch log."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc_box: list[asyncio.subprocess.Process] = []

    async def hang_up(request: web.Request) -> None:
        if request.method == "GET" and request.path.endswith(IDS[1]):
            proc_box[0].send_signal(signal.SIGHUP)
            await asyncio.sleep(0.3)

    srv = server_with(*(flow(i, "n", "s") for i in IDS))
    srv.hook = hang_up
    path = job(tmp_path, IDS, [{"remove_segment": {"id": RETIRED}}])
    async with serve(srv):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AEP_")}
        env |= env_for(srv) | {"TMPDIR": str(scratch)}
        args = ["plan", str(path), "--no-batch-fetch", "--concurrency", "1"]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bulkflow", *args, cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        proc_box.append(proc)
        await proc.communicate()
    assert list(scratch.iterdir()) == []


# 13. Ctrl-C while the program is still importing prints a Python traceback.
async def test_ctrl_c_during_start_up_prints_no_traceback(tmp_path: Path) -> None:
    """Ctrl c during start up prints no traceback."""
    code = (
        "import sys\n"
        "class Stop:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'bulkflow.cli.apply':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Stop())\n"
        "from bulkflow.cli.main import run\n"
        "run()\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, "validate", "x.yaml", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    assert "Traceback" not in err.decode()
    assert proc.returncode == 130
