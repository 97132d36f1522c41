"""``bulkflow --version`` and ``--help``: every argument explained, every default named."""

from __future__ import annotations

import argparse

import pytest

from bulkflow._version import __version__
from bulkflow.cli.main import build_parser
from tests.cli.test_cli import bulkflow


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


async def test_version_prints_the_installed_version() -> None:
    """``bulkflow --version`` prints ``bulkflow X.Y.Z`` and exits 0."""
    status, out, err = await bulkflow("--version")
    assert status == 0, err
    assert out.strip() == f"bulkflow {__version__}"


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_argument_has_help(command: str) -> None:
    """Each argument and option of each command says what it is for."""
    parser = _commands()[command]
    missing = [
        a.dest for a in parser._actions if not a.help and not isinstance(a, argparse._HelpAction)
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        ("run", ["--concurrency", "else 16)"]),
        ("run", ["--timeout", "else 30)"]),
        ("run", ["--max-conflict-retries", "else 5)"]),
        ("run", ["--grace", "(default: 30)"]),
        ("run", ["--log-format {auto,console,json}", "(default: auto"]),
        ("run", ["--log-level {debug,info,warning,error}", "(default: warning"]),
        ("report", ["--format", "(default: md)"]),
        ("sim", ["--port", "(default: 8080)"]),
        ("sim", ["--token-ttl", "(default: 86399"]),
        ("plan", ["--format", "(default: text)"]),
    ],
)
def test_help_names_defaults(command: str, shown: list[str]) -> None:
    """``bulkflow COMMAND --help`` names the default of each option that has one."""
    text = " ".join(_commands()[command].format_help().split())
    option, default = shown
    after = text.split(" options: ", 1)[1].split(f" {option} ", 1)[1]
    assert default in after.split(" --", 1)[0], after[:200]


async def test_help_of_a_command_exits_0_with_defaults() -> None:
    """``bulkflow plan --help`` as a process: exit 0, defaults shown."""
    status, out, _ = await bulkflow("plan", "--help")
    assert status == 0
    assert "default:" in out
