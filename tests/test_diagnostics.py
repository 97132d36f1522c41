"""Diagnostic logs: structured events on stderr, with secrets masked by a processor."""

from __future__ import annotations

import json

import pytest
import structlog

from bulkflow import diagnostics
from bulkflow.secrets import REGISTRY


def test_authorization_and_registered_secrets_are_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Sensitive keys become *** and a registered value is masked inside any string."""
    REGISTRY.add("diag-planted-secret")
    diagnostics.configure("debug", "json")
    structlog.get_logger().info(
        "http.request",
        headers={"Authorization": "Bearer abc", "x-api-key": "client"},
        client_secret="xyz",
        error_body='{"errorMessage": "bad value diag-planted-secret"}',
    )
    event = json.loads(capsys.readouterr().err)
    assert event["headers"] == {"Authorization": "***", "x-api-key": "client"}
    assert event["client_secret"] == "***"
    assert "diag-planted-secret" not in event["error_body"]
    assert event["event"] == "http.request"


def test_level_filters_events(capsys: pytest.CaptureFixture[str]) -> None:
    """At warning level, info and debug events are not written."""
    diagnostics.configure("warning", "json")
    structlog.get_logger().info("target.finished", target="x")
    assert capsys.readouterr().err == ""
    assert not diagnostics.debug_enabled()
