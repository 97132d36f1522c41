"""``bulkflow report``: a result log as a Markdown or HTML document for the change ticket."""

from __future__ import annotations

import argparse
from pathlib import Path

from bulkflow.cli.exits import EXIT_OK
from bulkflow.records import report
from bulkflow.records.resultlog import check_apart, check_writable, write_private


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``report``."""
    rep = commands.add_parser("report", help="turn a result log into a report for a change ticket")
    rep.add_argument("log", type=Path, help="a result log (run, dry run or apply)")
    rep.add_argument(
        "--format", choices=("md", "html"), default="md", help="Markdown, or one HTML file"
    )
    rep.add_argument("-o", "--output", type=Path, help="write to this file (default: stdout)")
    rep.set_defaults(handler=report_command)


def report_command(args: argparse.Namespace) -> int:
    """Write a Markdown or HTML report of a result log."""
    if args.output is not None:
        check_writable(args.output, "report")
        check_apart(args.output, "report", args.log)
    data = report.load(args.log)
    text = report.markdown(data) if args.format == "md" else report.html_report(data)
    if args.output is None:
        print(text, end="")
        return EXIT_OK
    write_private(args.output, text.encode())
    print(f"Report written to {args.output}")
    return EXIT_OK
