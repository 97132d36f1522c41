"""Targets picked by query: the list endpoints' ``property=`` filters, followed across pages.

The job file's filters are checked for shape when it is loaded (:mod:`bulkflow.job.jobfile`).

``targets: {query: {property: [...], limit: N}}`` selects every resource matching all the
filters (repeated filters are ANDed; ``a,b`` after ``==`` means any of; dotted paths, ``[]``
walks arrays), at most ``limit`` of them. The run records the ids it resolved in its log's
header, so a resume works on the same set even if the query would now answer differently.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from bulkflow.flowservice.client import MAX_PAGE, FlowClient


@dataclass(frozen=True)
class Selected:
    """One resource a query selected, with what a person checks before a run."""

    id: str
    name: str | None
    state: str | None


async def run_query(
    client: FlowClient, kind: str, filters: list[str], limit: int | None
) -> list[Selected]:
    """Every resource matching ``filters``, page by page, at most ``limit``."""
    params = [("property", f) for f in filters] + [("limit", str(MAX_PAGE))]
    selected: list[Selected] = []
    async with contextlib.aclosing(client.list_all(kind, params)) as docs:
        async for doc in docs:
            if limit is not None and len(selected) >= limit:
                break
            if isinstance(doc.get("id"), str) and doc["id"]:  # an item without an id is no target
                selected.append(_selected(doc))
    return selected


def _selected(doc: dict[str, Any]) -> Selected:
    name, state = doc.get("name"), doc.get("state")
    return Selected(
        str(doc["id"]),
        name if isinstance(name, str) else None,
        state if isinstance(state, str) else None,
    )
