"""``resource: targetConnections | sourceConnections``: which changes fit them, checked at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkflow.errors import InputError
from bulkflow.job.jobfile import load_job
from bulkflow.job.prepare import prepare

TARGET = "e8ebfb80-5387-454d-812d-34202541f17f"
JOB = """\
version: 1
name: export-settings
resource: {resource}
targets:
  - {target}
changes:
  - set: {{path: /params/compression, value: GZIP}}
  - {change}
"""


def _job(tmp_path: Path, resource: str, change: str) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(JOB.format(resource=resource, target=TARGET, change=change))
    return path


@pytest.mark.parametrize("resource", ["targetConnections", "sourceConnections"])
@pytest.mark.parametrize(
    "change",
    [
        "remove: {path: /params/csvOptions/escape}",
        "patch: [{op: replace, path: /params/path, value: /exports}]",
        "set: {path: /params/csvOptions/delimiter, value: ';'}",
    ],
)
def test_set_remove_and_patch_fit_connection_resources(
    tmp_path: Path, resource: str, change: str
) -> None:
    """set, remove and patch are accepted on target and source connections."""
    prepared = prepare(load_job(_job(tmp_path, resource, change)))
    assert prepared.job.resource == resource
    assert prepared.target_count == 1


@pytest.mark.parametrize("resource", ["targetConnections", "sourceConnections"])
@pytest.mark.parametrize(
    "change",
    [
        "add_segment: {id: abc}",
        "remove_profile_attribute: {path: Email}",
        "set_mapping: {mappingId: m, mappingVersion: 1}",
        "set_state: disabled",
        "rotate_credentials: {params: {password: x}}",
    ],
)
def test_flow_and_connection_changes_are_refused_at_their_line(
    tmp_path: Path, resource: str, change: str
) -> None:
    """A flow-only or base-connection-only change is an input error at its line, listing what fits."""
    with pytest.raises(InputError) as info:
        prepare(load_job(_job(tmp_path, resource, change)))
    error = info.value
    kind = change.split(":")[0]
    assert f"changes.1: {kind} does not apply to resource {resource!r}" in str(error)
    assert "set, remove, patch" in str(error)
    assert f"{tmp_path / 'job.yaml'}:8: " in str(error)


def test_unknown_resource_lists_the_four(tmp_path: Path) -> None:
    """A misspelt resource names the ones there are."""
    with pytest.raises(InputError) as info:
        load_job(_job(tmp_path, "targetconnections", "remove: {path: /params/x}"))
    assert "targetConnections" in str(info.value)
    assert "sourceConnections" in str(info.value)
