"""Planning errors name the change, the op and what is missing, and never a document value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from bulkflow.errors import PlanError
from bulkflow.job.changes import Change
from bulkflow.planner import plan
from bulkflow.sim import Simulator
from bulkflow.sim.generate import load_fixture
from tests.cli.test_cli import bulkflow
from tests.conftest import CLIENT_ID, CONNECTION, SimFactory, write_job

CHANGES = TypeAdapter(list[Change])
OLD_PASSWORD = "current-password-4e1d90"
NEW_PASSWORD = "rotated-password-b73c52"


@pytest.fixture
def connection() -> dict[str, Any]:
    """The tutorial's connection, holding a known current password."""
    doc = load_fixture("connection-salesforce.json")
    doc["auth"]["params"]["password"] = OLD_PASSWORD
    return doc


def plan_error(doc: dict[str, Any], *items: dict[str, Any]) -> str:
    """The message of the PlanError that planning ``items`` against ``doc`` raises."""
    with pytest.raises(PlanError) as caught:
        plan(doc, CHANGES.validate_python(list(items)))
    message = caught.value.message
    assert OLD_PASSWORD not in message
    assert NEW_PASSWORD not in message
    assert "my-salesforce-account" not in message, "a document value is in the message"
    return message


def test_replace_under_missing_member_names_op_and_missing_member(
    connection: dict[str, Any],
) -> None:
    """A raw replace below a missing member says which op, which path and what is missing."""
    op = {"op": "replace", "path": "/auth/params/nosuchfield/x", "value": NEW_PASSWORD}
    message = plan_error(connection, {"patch": [op]})
    assert message == (
        "change 1 (patch), op 1 (replace /auth/params/nosuchfield/x): "
        "/auth/params has no member 'nosuchfield'"
    )


def test_remove_of_missing_member_names_it(connection: dict[str, Any]) -> None:
    """A raw remove of an absent member says the root has no such member."""
    message = plan_error(connection, {"patch": [{"op": "remove", "path": "/nope"}]})
    assert message == "change 1 (patch), op 1 (remove /nope): the document has no member 'nope'"


def test_replace_of_missing_sensitive_member_shows_no_value(connection: dict[str, Any]) -> None:
    """Replacing an absent key under /auth/params: only the path, never the params' values."""
    op = {"op": "replace", "path": "/auth/params/pwd", "value": NEW_PASSWORD}
    message = plan_error(connection, {"patch": [op]})
    assert message.endswith("(replace /auth/params/pwd): /auth/params has no member 'pwd'")


def test_failing_op_is_counted_within_its_change(connection: dict[str, Any]) -> None:
    """The second change's third op fails: the message counts both from one."""
    good = {"op": "replace", "path": "/name", "value": "renamed"}
    bad = {"op": "add", "path": "/auth/params/password/x", "value": NEW_PASSWORD}
    message = plan_error(
        connection,
        {"set": {"path": "/description", "value": "d"}},
        {"patch": [good, good, bad]},
    )
    assert message == (
        "change 2 (patch), op 3 (add /auth/params/password/x): "
        "/auth/params/password is a string, not an object or array"
    )


def test_index_beyond_an_array_says_how_long_it_is() -> None:
    """An add past the end of an array gives the array's length, not its items."""
    doc = {"items": ["secret-item-one", "secret-item-two"]}
    message = plan_error(doc, {"patch": [{"op": "add", "path": "/items/5", "value": 1}]})
    assert message == "change 1 (patch), op 1 (add /items/5): /items has 2 items, no index 5"
    assert "secret-item" not in message


def test_word_where_an_array_index_belongs_is_named() -> None:
    """A member name used on an array says the array takes indexes."""
    doc = {"items": ["secret-item-one"]}
    message = plan_error(doc, {"patch": [{"op": "replace", "path": "/items/first", "value": 1}]})
    assert message.endswith("/items is an array, 'first' is not an index")


NAMES = st.sampled_from(["a", "b", "0", "1", "-", "auth", "params"])
LEAVES = st.integers(0, 9999).map(lambda n: f"doc-value-{n:04d}") | st.integers() | st.none()
DOCS = st.dictionaries(
    NAMES,
    st.recursive(
        LEAVES,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAMES, inner, max_size=3),
        max_leaves=12,
    ),
    max_size=4,
)
RAW_OPS = st.lists(
    st.fixed_dictionaries(
        {
            "op": st.sampled_from(["add", "replace", "remove"]),
            "path": st.lists(NAMES, min_size=1, max_size=4).map(lambda p: "/" + "/".join(p)),
            "value": st.just(NEW_PASSWORD),
        }
    ),
    min_size=1,
    max_size=3,
)


def strings_of(value: Any) -> list[str]:
    """The string leaves of a JSON-like value."""
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings_of(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings_of(item)]
    return [value] if isinstance(value, str) else []


@settings(max_examples=200, deadline=None)
@given(doc=DOCS, ops=RAW_OPS)
def test_failed_raw_patch_is_explained_without_values(doc: dict[str, Any], ops: Any) -> None:
    """Any raw patch that does not apply names the op and what is missing, never a value."""
    message = ""
    try:
        plan(doc, CHANGES.validate_python([{"patch": ops}]))
    except PlanError as exc:
        message = exc.message
    assume(message)
    assert message.startswith("change 1 (patch), op ")
    assert "does not apply" not in message, "no specific reason was found"
    for text in [NEW_PASSWORD, *strings_of(doc)]:
        assert text not in message


def rotation_by_raw_patch(tmp_path: Path, path: str) -> Path:
    """A connection job that rotates a password through a raw patch at ``path``."""
    body = {
        "version": 1,
        "name": "raw-rotation",
        "resource": "connections",
        "secrets": {"pw": {"env": "NEW_PW"}},
        "targets": [CONNECTION, "conn-a"],
        "changes": [{"patch": [{"op": "replace", "path": path, "value": "{{ secrets.pw }}"}]}],
    }
    return Path(write_job(tmp_path, body))


def password_of(sim: Simulator, connection_id: str) -> str:
    """The connection's current password, as the simulator holds it."""
    doc = sim.doc("connections", connection_id)
    assert doc is not None
    return str(doc["auth"]["params"]["password"])


async def test_bad_raw_patch_path_leaks_no_credentials_through_cli(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """A rotation whose raw patch path is wrong: the failure shows neither old nor new password."""
    sim = await make_sim(client_id=CLIENT_ID, client_secret="raw-patch-client-secret")
    sim.store.ensure("connections", "conn-a")
    current = [password_of(sim, c) for c in (CONNECTION, "conn-a")]
    assert current == ["{PASSWORD}", "sim-initial-password"]
    job = rotation_by_raw_patch(tmp_path, "/auth/params/nosuchfield/x")
    log = tmp_path / "r.jsonl"
    env = {
        "AEP_BASE_URL": sim.base_url,
        "AEP_IMS_URL": sim.ims_url,
        "AEP_CLIENT_ID": CLIENT_ID,
        "AEP_CLIENT_SECRET": "raw-patch-client-secret",
        "AEP_ORG_ID": "TEST@AdobeOrg",
        "NEW_PW": NEW_PASSWORD,
    }
    status, out, err = await bulkflow("run", str(job), "--log", str(log), env=env, cwd=tmp_path)
    assert status == 1, err
    assert "/auth/params has no member 'nosuchfield'" in log.read_text()
    assert sim.stats.count("PATCH") == 0
    for text in (out, err, log.read_text()):
        assert NEW_PASSWORD not in text
        for password in current:
            assert password not in text
