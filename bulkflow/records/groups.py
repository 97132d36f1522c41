"""Targets grouped by their change set, so that a plan over 5,000 flows reads as a few blocks.

A rollout's targets mostly share one change set (the same audiences added, the same one
retired); a block per target would repeat it thousands of times. Targets whose change lines are
identical form one :class:`Group`, shown once with its count; a group of one is a target whose
changes differ from every other. Failed targets are not grouped here: they show no changes.

Memory stays bounded however many targets there are: at most :data:`MAX_GROUPS` change sets are
kept (targets beyond them are only counted) and a group keeps ``keep_ids`` of its ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bulkflow.records.resultlog import Status

#: Distinct change sets kept; a 5,000-target rollout has a handful.
MAX_GROUPS = 1_000
#: Statuses whose change lines are changes made or to be made (a failed target's are neither).
SHOWN = frozenset({Status.UPDATED, Status.PLANNED})


@dataclass
class Group:
    """Targets with these changes (the values they replace may differ): how many, and (some
    of) their ids and names. ``changes`` reads ``…`` for a value that was not the same in all."""

    changes: tuple[str, ...]
    count: int = 0
    members: list[tuple[str, str | None]] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        """The ids kept, in the order the targets finished (or were read)."""
        return [target_id for target_id, _ in self.members]

    def note(self, changes: tuple[str, ...]) -> None:
        """One more target's exact lines: where they differ, the old value reads ``…``."""
        if changes != self.changes:
            self.changes = tuple(
                line if line == other else without_before(line)
                for line, other in zip(self.changes, changes, strict=True)
            )


_REPLACED = re.compile(r"^~ (?P<path>.+?): (?P<old>.+) → (?P<new>.+)$")
_REMOVED = re.compile(r"^- (?P<path>/\S+) \(was .+\)$")


def without_before(line: str) -> str:
    """A change line with the value it replaces left out: targets that get the same new value
    from different old ones read as one change (``~ /path: … → "week"``)."""
    replaced = _REPLACED.match(line)
    if replaced:
        return f"~ {replaced['path']}: … → {replaced['new']}"
    removed = _REMOVED.match(line)
    return f"- {removed['path']} (was …)" if removed else line


class ChangeGroups:
    """Collects targets by change set; ``keep_ids`` ids per group (None: every one)."""

    def __init__(self, keep_ids: int | None = None) -> None:
        self.keep_ids = keep_ids
        self._groups: dict[tuple[str, ...], Group] = {}
        self.targets = 0
        self.ungrouped = 0  # targets whose change set came after MAX_GROUPS others

    def add(self, target_id: str, name: str | None, changes: Sequence[str]) -> None:
        """Count one target with ``changes`` (a target without changes is not counted)."""
        if not changes:
            return
        self.targets += 1
        exact = tuple(changes)
        key = tuple(without_before(line) for line in exact)
        group = self._groups.get(key)
        if group is None:
            if len(self._groups) >= MAX_GROUPS:
                self.ungrouped += 1
                return
            group = self._groups[key] = Group(exact)
        else:
            group.note(exact)
        group.count += 1
        if self.keep_ids is None or len(group.members) < max(1, self.keep_ids):
            group.members.append((target_id, name))

    def add_record(self, record: Mapping[str, Any]) -> None:
        """Count a result record if it made or plans changes."""
        if record.get("status") in SHOWN:
            name = record.get("name")
            # A guardrail warning belongs with the changes that cause it.
            warnings = [f"! {warning}" for warning in record.get("warnings") or ()]
            changes = [*record["changes"], *warnings] if record["changes"] else []
            self.add(str(record["id"]), name if isinstance(name, str) else None, changes)

    def shared(self) -> list[Group]:
        """Change sets of two targets or more: the largest first."""
        found = (g for g in self._groups.values() if g.count > 1)
        return sorted(found, key=lambda g: (-g.count, g.changes))

    def single(self) -> list[Group]:
        """Targets whose changes differ from every other's, by id."""
        return sorted((g for g in self._groups.values() if g.count == 1), key=lambda g: g.ids)


def grouped(records: Iterable[Mapping[str, Any]], keep_ids: int | None = None) -> ChangeGroups:
    """The records that made or plan changes, grouped."""
    groups = ChangeGroups(keep_ids)
    for record in records:
        groups.add_record(record)
    return groups
