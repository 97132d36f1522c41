"""Input errors as a person reads them: the right line, a column, in file order, each once."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.test_cli import bulkflow

HEAD = "version: 1\nname: t\nresource: flows\ntargets:\n  - abc\nchanges:\n"


def write(tmp_path: Path, text: str, name: str = "job.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


async def validate(job: Path) -> tuple[int, str]:
    status, out, err = await bulkflow("validate", str(job))
    return status, out + err


async def test_unclosed_quote_names_the_line_it_opens_with_a_column(tmp_path: Path) -> None:
    """A string never closed: the error names its own line and column, not the file's end."""
    job = write(tmp_path, 'version: 1\nname: "t\nresource: flows\ntargets:\n  - abc\n')
    status, text = await validate(job)
    assert status == 2
    assert f"{job}:2: column 7: " in text
    assert "quoted string" in text


async def test_unclosed_flow_mapping_names_the_line_it_opens(tmp_path: Path) -> None:
    """``{path: /x, value: 1`` without ``}``: the line of the ``{``, with its column."""
    job = write(tmp_path, HEAD + "  - set: {path: /name, value: x\n  - remove: {path: /a}\n")
    status, text = await validate(job)
    assert status == 2
    assert f"{job}:7: column 10: " in text


async def test_yaml_error_has_a_column(tmp_path: Path) -> None:
    """A misplaced ``:`` is reported with its line and column."""
    job = write(tmp_path, HEAD + "  - set: {path: /name, value: x}\n    foo: bar: baz\n")
    status, text = await validate(job)
    assert status == 2
    assert re.search(rf"{re.escape(str(job))}:8: column 13: not valid YAML or JSON", text), text


async def test_errors_come_in_the_order_of_their_lines(tmp_path: Path) -> None:
    """Problems anywhere in the file are listed by line, whatever the model's field order."""
    text = (
        "options: {concurrency: 0}\nversion: 1\nname: t\nresource: flows\n"
        "targets:\n  - abc\nchanges:\n  - set: {path: name, value: 1}\nsandbox: 'a b'\n"
    )
    status, out = await validate(write(tmp_path, text))
    assert status == 2
    lines = [int(m) for m in re.findall(r"job\.yaml:(\d+): ", out)]
    assert len(lines) == 3, out
    assert lines == sorted(lines)


async def test_no_pydantic_prefix_in_messages(tmp_path: Path) -> None:
    """A validator's message reads as written: no ``Value error,`` before it."""
    status, text = await validate(write(tmp_path, HEAD + "  - set: {path: name, value: 1}\n"))
    assert status == 2
    assert "'name' is not a JSON pointer" in text
    assert "Value error" not in text


async def test_undefined_variable_for_every_csv_row_is_reported_once(tmp_path: Path) -> None:
    """A variable no CSV row defines: one error naming the targets, not one per row."""
    (tmp_path / "t.csv").write_text("id,region\nabc,emea\ndef,apac\nghi,amer\n")
    text = "version: 1\nname: t\nresource: flows\ntargets: {file: t.csv}\nchanges:\n"
    text += '  - set: {path: /name, value: "{{ nope }}"}\n'
    status, out = await validate(write(tmp_path, text))
    assert status == 2
    assert out.count("'nope' is undefined") == 1, out
    assert "targets abc, def and 1 more" in out


async def test_validate_counts_in_singular(tmp_path: Path) -> None:
    """One target and one change read ``1 target, 1 change``."""
    status, text = await validate(write(tmp_path, HEAD + "  - set: {path: /name, value: x}\n"))
    assert status == 0, text
    assert "valid: 1 target, 1 change (flows)" in text
