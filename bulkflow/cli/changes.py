"""Changes as the terminal shows them: grouped by change set, ``+ - ~`` coloured on a terminal.

Targets with the same changes are shown once, with their count (``--show-ids`` lists them),
then the targets whose changes differ from every other; failed ones are in the summary that
follows. Everything is printed once the progress bar is gone, so no line is drawn into it.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from bulkflow.cli.console import ProgressBar, plural
from bulkflow.records.groups import ChangeGroups, Group
from bulkflow.records.resultlog import ResultRecord

#: ``+`` added, ``-`` removed, ``~`` replaced. rich leaves colour out off a terminal and when
#: ``NO_COLOR`` is set.
SIGN_STYLES = {"+": "green", "-": "red", "~": "yellow", "!": "bold yellow"}


class ChangeCollector:
    """Counts each finished target's changes by change set (an engine observer)."""

    def __init__(self, bar: ProgressBar, show_ids: bool) -> None:
        self.bar = bar
        self.show_ids = show_ids
        self.groups = ChangeGroups(None if show_ids else 1)

    def target_done(self, record: ResultRecord) -> None:
        """Advance the bar; count the target's changes, if it made or plans any."""
        self.bar.target_done(record)
        self.groups.add_record(record)


def change_line(line: str, indent: str = "  ") -> Text:
    """One change line as text (never markup), coloured by its sign."""
    return Text(indent + line, style=SIGN_STYLES.get(line[:1], ""))


def print_changes(
    groups: ChangeGroups,
    console: Console,
    resource: str,
    show_ids: bool,
    heading: str | None,
    logged: bool = True,
) -> None:
    """The groups, largest first, then the targets whose changes are their own."""
    shared, single = groups.shared(), groups.single()
    if not (shared or single or groups.ungrouped):
        return
    noun = resource.removesuffix("s")
    if heading:
        console.print(heading, style="bold", markup=False, highlight=False)
    for group in shared:
        console.print(f"{plural(group.count, noun)}:", style="bold", highlight=False)
        _print_lines(group, console)
        if show_ids:
            console.print("  ids:", highlight=False)
            for target_id, name in group.members:
                console.print(Text(f"    {_titled(target_id, name)}"), soft_wrap=True)
    if shared and single:
        console.print(f"{plural(len(single), noun)} with changes of their own:", style="bold")
    for group in single:
        target_id, name = group.members[0]
        console.print(Text(f"{resource} {_titled(target_id, name)}"), soft_wrap=True)
        _print_lines(group, console)
    if groups.ungrouped:
        more = plural(groups.ungrouped, noun)
        where = "each is in the result log" if logged else "--log PATH keeps each"
        console.print(f"... and {more} with yet other changes ({where}).")
    if shared and not show_ids:
        console.print("(--show-ids lists the ids of each group)", style="dim", highlight=False)
    console.print()


def _print_lines(group: Group, console: Console) -> None:
    for line in group.changes:
        console.print(change_line(line), soft_wrap=True)


def _titled(target_id: str, name: str | None) -> str:
    return target_id + (f' "{name}"' if name else "")
