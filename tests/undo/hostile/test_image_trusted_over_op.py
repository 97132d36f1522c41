"""a forged 'was' image on a test/move op is reverted as if the op were a replace."""

from __future__ import annotations

from bulkflow.undo.inverse import Applied, invert


def test_a_test_op_is_never_reverted_into_a_write() -> None:
    """A test op is never reverted into a write."""
    ops = [{"op": "test", "path": "/name", "value": "Prod export"}]
    inverse = invert({"name": "Prod export"}, [Applied(ops, [{"path": "/name", "was": "pwned"}])])
    assert inverse.ops == []
