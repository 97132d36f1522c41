"""A secret goes into a change only as it is (``{{ secrets.NAME }}``); nothing may transform,
slice, test or print it, and no template error shows a secret, even changed."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from bulkflow.job.templates import Renderer, TemplateError
from bulkflow.secrets import REGISTRY
from tests.cli.test_cli import bulkflow
from tests.conftest import DEST_FLOW, job_body, write_job

SECRET = "Pw<Secret>&Rot/ated'42"
RULE = "a secret can only be inserted as it is: {{ secrets.NAME }}"


def shows_secret(text: str) -> bool:
    """Whether ``text`` holds 8 characters of the secret as it is, changed in case, or URL-encoded."""
    forms = [SECRET, SECRET.upper(), SECRET.lower(), quote(SECRET), quote(SECRET, safe="")]
    return any(form[i : i + 8] in text for form in forms for i in range(len(form) - 7))


def secret_job(tmp_path: Path, value: str) -> Path:
    """A job that sets ``/name`` to ``value``, with the secret ``pw`` and the variable ``q``."""
    change = {"set": {"path": "/name", "value": value}}
    body = job_body([DEST_FLOW], [change], secrets={"pw": {"env": "PW"}}, vars={"q": "Q4"})
    return Path(write_job(tmp_path, body))


@pytest.mark.parametrize(
    "template",
    [
        "{{ secrets.pw[0:6] }}.{{ secrets.pw[6:] }}",
        "{{ secrets.pw[0] }}",
        "{{ secrets.pw | upper }}",
        "{{ secrets[secrets.pw | upper] }}",
        "Password={{ secrets.pw | urlencode }}",
        '{"password": {{ secrets.pw | tojson }}}',
        "{{ secrets['pw'] }}",
        "{{ secrets }}",
        "{{ secrets.pw ~ '!' }}",
        "{{ secrets.pw + '!' }}",
        "{{ secrets.pw.upper }}",
        "{{ secrets.pw is string }}",
        "{{ secrets.pw == 'x' }}",
        "{% if secrets.pw == 'x' %}yes{% endif %}",
        "{{ 'a' if secrets.pw else 'b' }}",
        "{{ q | replace('Q', secrets.pw) }}",
    ],
)
async def test_secret_used_other_than_as_it_is_is_refused(tmp_path: Path, template: str) -> None:
    """Slices, filters, tests, comparisons, ``~``, ``if``: exit 2 at ``file:line`` naming the rule."""
    job = secret_job(tmp_path, template)
    status, out, err = await bulkflow("validate", str(job), env={"PW": SECRET})
    assert status == 2, out + err
    assert f"{job.name}:" in err
    assert RULE in err
    assert not shows_secret(out + err)


@pytest.mark.parametrize(
    "template",
    [
        "Password={{ secrets.pw }};",
        "{{ secrets.pw }}{{ secrets.pw }}",
        "{% if q == 'Q4' %}{{ secrets.pw }}{% endif %}",
    ],
)
async def test_secret_inserted_as_it_is_is_valid(tmp_path: Path, template: str) -> None:
    """``{{ secrets.pw }}`` among literal text, twice, or inside ``{% if %}``: valid, not shown."""
    job = secret_job(tmp_path, template)
    status, out, err = await bulkflow("validate", str(job), env={"PW": SECRET})
    assert status == 0, err
    assert "valid: 1 target, 1 change" in out
    assert not shows_secret(out + err)


def test_template_error_message_is_masked() -> None:
    """An error that quotes a value equal to a registered secret shows ``***`` instead."""
    REGISTRY.add(SECRET)
    with pytest.raises(TemplateError) as error:
        Renderer().render("{{ {}[v] }}", {"v": SECRET})
    assert "***" in str(error.value)
    assert not shows_secret(str(error.value))


async def test_secret_not_utf8_in_environment_is_refused(tmp_path: Path) -> None:
    """A secret variable holding bytes that are not UTF-8: exit 2 naming it, not exit 70."""
    job = secret_job(tmp_path, "{{ secrets.pw }}")
    env = {k: v for k, v in os.environb.items() if not k.startswith(b"AEP_")}
    env[b"PW"] = b"Pw-not-utf8-\xff\xfe-secret"
    status, err = await _run_bytes_env(job, env)
    assert status == 2, err
    assert "environment variable PW" in err
    assert "UTF-8" in err
    assert "not-utf8" not in err


async def _run_bytes_env(job: Path, env: dict[bytes, bytes]) -> tuple[int, str]:
    """``bulkflow validate JOB`` with an environment of raw bytes; its status and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bulkflow", "validate", str(job),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    _, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, err.decode(errors="replace")
