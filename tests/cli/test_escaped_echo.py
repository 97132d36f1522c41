"""A service echoing a request with a secret that JSON and URL encoders escape: nothing shown."""

from __future__ import annotations

from pathlib import Path

from bulkflow.sim import Faults
from tests.cli.test_cli import bulkflow, sim_env
from tests.conftest import DEST_FLOW, SimFactory, job_body, write_job
from tests.test_masking_encodings import JSON_ENCODERS, URL_ENCODERS, window_leaks

SECRET = 'Pw<Secret>&Rot/ated\\"42-é'


async def test_echoed_secret_with_escaped_characters_leaks_nothing(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """A 400 echoing a body with ``<&/'``: output, debug log and result log show no form of it."""
    sim = await make_sim(Faults(echo_reject_rate=1.0))
    change = {"set": {"path": "/description", "value": "pw={{ secrets.pw }};"}}
    job = write_job(tmp_path, job_body([DEST_FLOW], [change], secrets={"pw": {"env": "PW"}}))
    log = tmp_path / "r.jsonl"
    args = ("run", str(job), "--log", str(log), "--log-level", "debug")
    status, out, err = await bulkflow(*args, env=sim_env(sim) | {"PW": SECRET})
    assert status == 1, err
    assert "Could not validate patch instructions" in out
    shown = out + err + log.read_text()
    forms = [SECRET, SECRET.lower(), SECRET.upper()]
    forms += [encode(SECRET) for encode in [*JSON_ENCODERS, *URL_ENCODERS]]
    assert not [form for form in forms if window_leaks(shown, form)]
