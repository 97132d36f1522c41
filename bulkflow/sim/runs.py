"""Flow runs, as ``GET /runs`` lists them and a flow's ``lastRunDetails`` names the latest.

With ``run_interval_s`` set, an enabled flow runs that often, each flow at its own phase (from
its id), and had been running before the simulator started. Nothing runs in the background: a
read computes the runs started by then, newest first, the last :data:`HISTORY` of each flow. A
run lasts a tenth of the interval and ends in success; under the ``fail_runs_after_change``
fault a run that started after a client changed its flow fails. A disabled flow ran until it
was last changed (one never changed, until the simulator started). The documents fit the
sources spec's ``FlowRunItemDTO`` and the destinations spec's ``Flow_Run``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from typing import Any

from bulkflow.sim import generate
from bulkflow.sim.config import SimConfig
from bulkflow.sim.faults import FaultPlan
from bulkflow.sim.store import Store

Doc = dict[str, Any]
HISTORY = 10  # runs per flow a read shows: enough to see what followed a change
SCHEDULER = "acp_flowservice_scheduler"
# The destinations spec's failed run example.
# A destination flow's runs say Success, Failed or Processing (the destinations spec's enum;
# its examples and the sources spec write lower case, as source flows' runs do here).
DESTINATION_STATUS = {"inProgress": "Processing", "success": "Success", "failed": "Failed"}
RUN_ERRORS = [{"code": "ACTIVATION_BATCH-0000-FAILED", "message": "Job aborted."}]
#: The top-level properties of a run (FlowRunItemDTO): a filter on any other is a 400.
RUN_FIELDS = frozenset(
    [
        *("id", "createdAt", "updatedAt", "createdBy", "updatedBy", "createdClient"),
        *("updatedClient", "sandboxId", "sandboxName", "imsOrgId", "flowId", "flowSpec"),
        *("providerRefId", "etag", "metrics", "activities"),
    ]
)


class Runs:
    """The runs of one simulator's flows, computed when read."""

    def __init__(self, config: SimConfig, store: Store, faults: FaultPlan) -> None:
        interval = config.run_interval_s
        self.interval_ms = None if interval is None else max(1, round(interval * 1000))
        self.started_ms = generate.now_ms()
        self.store = store
        self.faults = faults

    def of_flows(self, sandbox: str, flow_ids: Iterable[str] | None, as_of_ms: int) -> list[Doc]:
        """The recent runs of the flows named (all stored flows when None), as of ``as_of_ms``."""
        if self.interval_ms is None:
            return []
        docs: Iterable[Doc | None] = (
            self.store.docs(sandbox, "flows").values()
            if flow_ids is None
            else (self.store.get(sandbox, "flows", i) for i in dict.fromkeys(flow_ids))
        )
        return [
            self._run(sandbox, doc, start, as_of_ms)
            for doc in docs
            if doc is not None
            for start in self._starts(sandbox, doc, as_of_ms)
        ]

    def annotate(self, doc: Doc) -> None:
        """Give a flow about to be served its ``lastRunDetails`` (when runs are simulated)."""
        if self.interval_ms is None:
            return
        sandbox, now = str(doc.get("sandboxName")), generate.now_ms()
        starts = self._starts(sandbox, doc, now, count=1)
        if not starts:
            return
        run = self._run(sandbox, doc, starts[0], now)
        timing = run["metrics"]["durationSummary"]
        state = (
            str(run["metrics"]["statusSummary"]["status"])
            .lower()
            .replace("processing", "inProgress")
        )
        doc["lastRunDetails"] = {"id": run["id"], "state": state} | timing

    def _starts(self, sandbox: str, doc: Doc, as_of_ms: int, count: int = HISTORY) -> list[int]:
        """When the flow's latest ``count`` runs started by ``as_of_ms``, newest first."""
        interval = self.interval_ms
        assert interval is not None
        flow_id = str(doc.get("id"))
        until = as_of_ms
        if doc.get("state") != "enabled":
            changed = self.store.changed_at.get((sandbox, "flows", flow_id), self.started_ms)
            until = min(until, changed)
        origin = self.started_ms + _phase(flow_id, interval)
        last = (until - origin) // interval
        return [origin + k * interval for k in range(last, last - count, -1)]

    def _run(self, sandbox: str, doc: Doc, start: int, as_of_ms: int) -> Doc:
        """One run document, as it reads at ``as_of_ms``."""
        flow_id = str(doc.get("id"))
        assert self.interval_ms is not None
        end = start + max(1, self.interval_ms // 10)
        done = end <= as_of_ms
        state = "inProgress"
        if done:
            state = "failed" if self._fails(sandbox, flow_id, start) else "success"
        status = DESTINATION_STATUS[state] if _is_destination(doc) else state
        summary: Doc = {"status": status} | ({"errors": RUN_ERRORS} if state == "failed" else {})
        timing = {"startedAtUTC": start} | ({"completedAtUTC": end} if done else {})
        digest = hashlib.sha256(f"{flow_id}:{start}".encode()).digest()
        size = int.from_bytes(digest[16:18])
        run: Doc = {
            "id": str(uuid.UUID(bytes=digest[:16], version=4)),
            "createdAt": start,
            "updatedAt": end if done else start,
            **dict.fromkeys(
                ("createdBy", "updatedBy", "createdClient", "updatedClient"), SCHEDULER
            ),
            "sandboxId": str(doc.get("sandboxId") or f"sandbox-{sandbox}"),
            "sandboxName": sandbox,
            "imsOrgId": str(doc.get("imsOrgId")),
            "flowId": flow_id,
            "providerRefId": f"M-{flow_id}-{start}",
            "etag": f'"{digest[18:22].hex()}-0000-0200-0000-{digest[22:28].hex()}"',
            "metrics": {
                "durationSummary": timing,
                "sizeSummary": {"inputBytes": size * 60, "outputBytes": size * 58},
                "recordSummary": {"inputRecordCount": size, "outputRecordCount": size},
                "fileSummary": {"inputFileCount": 1, "outputFileCount": 1},
                "statusSummary": summary,
            },
        }
        if isinstance(doc.get("flowSpec"), dict):
            run["flowSpec"] = doc["flowSpec"]
        return run

    def _fails(self, sandbox: str, flow_id: str, start: int) -> bool:
        changed = self.store.changed_at.get((sandbox, "flows", flow_id))
        return changed is not None and start > changed and self.faults.run_fails(flow_id, start)


def _is_destination(doc: Doc) -> bool:
    attributes = doc.get("inheritedAttributes")
    properties = attributes.get("properties") if isinstance(attributes, dict) else None
    return isinstance(properties, dict) and properties.get("isDestinationFlow") is True


def _phase(flow_id: str, interval_ms: int) -> int:
    """Where in the interval a flow's runs start: spread over flows, fixed per flow."""
    digest = hashlib.sha256(flow_id.encode()).digest()
    return int.from_bytes(digest[:4]) % interval_ms
