"""Job files: loading, targets, templates, secrets, and input errors with file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bulkflow.errors import InputError
from bulkflow.job.jobfile import load_job
from bulkflow.job.prepare import prepare
from tests.conftest import DEST_FLOW, SOURCE_FLOW, job_body, write_job

GOOD = """\
version: 1
name: demo
resource: flows
vars: {quarter: Q4}
targets:
  - 226fb2e1-db69-4760-b67e-9e671e05abfc
  - {id: 2edc08ac-4df5-4fe6-936f-81a19ce92f5c, vars: {quarter: Q1}}
changes:
  - add_segment: {id: abc, name: "Winter {{ quarter }}"}
"""


def write(tmp_path: Path, text: str, name: str = "job.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str, **files: str) -> InputError:
    for name, content in files.items():
        write(tmp_path, content, name)
    with pytest.raises(InputError) as info:
        prepare(load_job(write(tmp_path, text)))
    return info.value


def test_valid_job_renders_target_vars_over_job_vars(tmp_path: Path) -> None:
    """``{{ quarter }}`` takes the target's var first, then the job's."""
    job = prepare(load_job(write(tmp_path, GOOD)))
    names = [job.changes_for(t)[0].add_segment.name for t in job.targets()]  # type: ignore[union-attr]
    assert names == ["Winter Q4", "Winter Q1"]
    assert job.target_count == 2


def test_json_job_file_is_accepted(tmp_path: Path) -> None:
    """JSON works as well as YAML."""
    text = '{"version": 1, "name": "j", "resource": "flows", "targets": ["a1"], "changes": [{"remove": {"path": "/x"}}]}'
    assert prepare(load_job(write(tmp_path, text, "job.json"))).target_count == 1


def test_csv_targets_give_vars(tmp_path: Path) -> None:
    """A CSV's other columns become that target's vars."""
    write(tmp_path, f"id,region\n{DEST_FLOW},emea\n{SOURCE_FLOW},apac\n", "t.csv")
    text = (
        GOOD.split("targets:")[0]
        + "targets: {file: t.csv}\nchanges:\n  - add_segment: {id: abc, name: '{{ region }}'}\n"
    )
    job = prepare(load_job(write(tmp_path, text)))
    assert [(t.id, dict(t.vars)) for t in job.targets()] == [
        (DEST_FLOW, {"region": "emea"}),
        (SOURCE_FLOW, {"region": "apac"}),
    ]


def test_text_targets_skip_blanks_and_comments(tmp_path: Path) -> None:
    """A text targets file: one id per line, ``#`` comments and blank lines ignored."""
    write(tmp_path, f"# rollout\n{DEST_FLOW}\n\n{SOURCE_FLOW}  # bigquery\n", "t.txt")
    text = GOOD.split("targets:")[0] + "targets: {file: t.txt}\nchanges:\n  - remove: {path: /x}\n"
    assert [t.id for t in prepare(load_job(write(tmp_path, text))).targets()] == [
        DEST_FLOW,
        SOURCE_FLOW,
    ]


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    """Broken YAML: the file and the line of the problem."""
    error = error_of(tmp_path, "version: 1\nname: [oops\n")
    assert str(error.path).endswith("job.yaml")
    assert error.line is not None
    assert "not valid YAML" in str(error)


def test_unknown_change_kind_names_its_line(tmp_path: Path) -> None:
    """An unknown change kind: its line, its name, and the kinds that exist."""
    error = error_of(tmp_path, GOOD.replace("  - add_segment:", "  - add_audience:"))
    assert error.line == 9
    assert "unknown change kind 'add_audience'" in str(error)
    assert "add_segment" in str(error)


def test_missing_required_field_names_line(tmp_path: Path) -> None:
    """``add_segment`` without ``id``: the change's line."""
    error = error_of(tmp_path, GOOD.replace("{id: abc, ", "{"))
    assert error.line == 9
    assert "id" in str(error)


def test_bad_json_pointer_is_caught(tmp_path: Path) -> None:
    """A path that is not a JSON pointer is an input error at its line."""
    text = GOOD.replace(
        '  - add_segment: {id: abc, name: "Winter {{ quarter }}"}',
        "  - set: {path: name, value: x}",
    )
    error = error_of(tmp_path, text)
    assert error.line == 9
    assert "JSON pointer" in str(error)


def test_duplicate_inline_target_names_line(tmp_path: Path) -> None:
    """The same id twice: the second one's line, and where the first was."""
    text = GOOD.replace(
        "  - {id: 2edc08ac-4df5-4fe6-936f-81a19ce92f5c",
        f"  - {DEST_FLOW}\n  - {{id: 2edc08ac-4df5-4fe6-936f-81a19ce92f5c",
    )
    error = error_of(tmp_path, text)
    assert error.line == 7
    assert "duplicate target id" in str(error)


def test_duplicate_csv_target_names_csv_line(tmp_path: Path) -> None:
    """A duplicate in a CSV is reported with the CSV's line."""
    text = GOOD.split("targets:")[0] + "targets: {file: t.csv}\nchanges:\n  - remove: {path: /x}\n"
    error = error_of(tmp_path, text, **{"t.csv": f"id\n{DEST_FLOW}\n{SOURCE_FLOW}\n{DEST_FLOW}\n"})
    assert error.line == 4
    assert f"t.csv:4: duplicate target id '{DEST_FLOW}' (first at " in str(error)
    assert str(error).rstrip().endswith("t.csv:2)")


def test_csv_without_id_column(tmp_path: Path) -> None:
    """A CSV must have an ``id`` column."""
    text = GOOD.split("targets:")[0] + "targets: {file: t.csv}\nchanges:\n  - remove: {path: /x}\n"
    error = error_of(tmp_path, text, **{"t.csv": "flow\nabc\n"})
    assert "'id' column" in str(error)
    assert str(error.path).endswith("t.csv")


def test_undefined_var_names_target_and_template(tmp_path: Path) -> None:
    """``{{ region }}`` undefined for a target: strict undefined, named with the target."""
    error = error_of(tmp_path, GOOD.replace("{{ quarter }}", "{{ region }}"))
    assert "'region' is undefined" in str(error)
    assert DEST_FLOW in str(error)
    assert error.line == 9  # the templated change's own line, not the "changes:" key's


def test_template_sandbox_refuses_unsafe_access(tmp_path: Path) -> None:
    """Templates run in Jinja's sandbox: no reaching into Python internals."""
    error = error_of(tmp_path, GOOD.replace("{{ quarter }}", "{{ quarter.__class__.__mro__ }}"))
    assert "target" in str(error)


def test_missing_secret_is_named_not_valued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unset secret's env var: the secret's name and line."""
    monkeypatch.delenv("NO_SUCH_SECRET_VAR", raising=False)
    text = GOOD.replace(
        "vars: {quarter: Q4}", "vars: {quarter: Q4}\nsecrets:\n  pw: {env: NO_SUCH_SECRET_VAR}"
    )
    error = error_of(tmp_path, text)
    assert "secret 'pw'" in str(error)
    assert "NO_SUCH_SECRET_VAR is not set" in str(error)
    assert error.line == 6


def test_empty_secret_file_is_an_error(tmp_path: Path) -> None:
    """An empty secret file is as bad as a missing one."""
    text = GOOD.replace(
        "vars: {quarter: Q4}", "vars: {quarter: Q4}\nsecrets:\n  pw: {file: pw.txt}"
    )
    error = error_of(tmp_path, text, **{"pw.txt": "\n"})
    assert "is empty" in str(error)


def test_unknown_secret_reference_is_an_error(tmp_path: Path) -> None:
    """``{{ secrets.nope }}`` with no such secret is caught before any request."""
    error = error_of(tmp_path, GOOD.replace("{{ quarter }}", "{{ secrets.nope }}"))
    assert "nope" in str(error)


def test_change_for_wrong_resource(tmp_path: Path) -> None:
    """``rotate_credentials`` on flows is refused at its line."""
    text = GOOD.replace(
        '  - add_segment: {id: abc, name: "Winter {{ quarter }}"}',
        "  - rotate_credentials: {params: {a: b}}",
    )
    error = error_of(tmp_path, text)
    assert "does not apply to resource 'flows'" in str(error)
    assert error.line == 9


def test_contradicting_changes(tmp_path: Path) -> None:
    """Adding and removing the same audience in one job is refused."""
    error = error_of(tmp_path, GOOD + "  - remove_segment: {id: abc}\n")
    assert "contradicts" in str(error)


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    """A key given twice is an error, not a silent override."""
    error = error_of(
        tmp_path, GOOD.replace("resource: flows", "resource: flows\nresource: connections")
    )
    assert "duplicate key 'resource'" in str(error)
    assert error.line == 4


def test_unknown_top_level_key(tmp_path: Path) -> None:
    """A misspelt key is reported, not ignored."""
    error = error_of(tmp_path, GOOD.replace("vars:", "varz:", 1))
    assert "varz" in str(error)
    assert error.line == 4


def test_invalid_target_id(tmp_path: Path) -> None:
    """An id with a slash would change the URL: refused."""
    error = error_of(tmp_path, GOOD.replace("  - 226fb2e1", "  - ../226fb2e1"))
    assert error.line == 6


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    """Several problems come back together."""
    text = GOOD.replace("version: 1", "version: 2").replace("resource: flows", "resource: flowz")
    error = error_of(tmp_path, text)
    assert len(error.problems) >= 2


def test_digest_covers_targets_file(tmp_path: Path) -> None:
    """Changing the targets file changes the job digest."""
    text = GOOD.split("targets:")[0] + "targets: {file: t.txt}\nchanges:\n  - remove: {path: /x}\n"
    write(tmp_path, "a1\n", "t.txt")
    first = load_job(write(tmp_path, text)).digest
    write(tmp_path, "a2\n", "t.txt")
    assert load_job(tmp_path / "job.yaml").digest != first


@pytest.mark.parametrize("job", sorted(Path("jobs").glob("*.yaml")))
def test_example_jobs_are_valid(job: Path, monkeypatch: Any) -> None:
    """Every job in jobs/ validates (secrets from a planted environment)."""
    for name in ("SF_NEW_PASSWORD", "SF_NEW_SECURITY_TOKEN"):
        monkeypatch.setenv(name, "planted")
    prepared = prepare(load_job(job))
    assert prepared.target_count > 0 or prepared.query is not None


def test_unknown_option_names_the_options(tmp_path: Path) -> None:
    """``options: {timeout: 3}`` (not ``timeout_s``): the error lists the options there are."""
    path = write_job(
        tmp_path, job_body(["f1"], [{"remove": {"path": "/x"}}], options={"timeout": 3})
    )
    with pytest.raises(InputError) as caught:
        load_job(path)
    assert "options.timeout: unknown option; the options are concurrency" in str(caught.value)
    assert "timeout_s" in str(caught.value)
