"""The simulator's documents: sandbox-scoped flows and connections (base, target, source), etags,
atomic JSON Patch."""

from __future__ import annotations

import json
import random
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import jsonpatch
import jsonpointer

from bulkflow.sim import exports, generate
from bulkflow.sim.config import SimConfig

Doc = dict[str, Any]
KINDS = ("flows", "connections", "targetConnections", "sourceConnections")
SUPPORTED_OPS = ("add", "replace", "remove")
RECENT_ON_DEMAND = 4096
READ_ONLY_PATHS = ("/id", "/etag", "/version", "/createdAt", "/createdBy")
RIVAL = "rival-writer"


class PatchRejected(ValueError):
    """A PATCH the service answers with 400; ``code`` is the FLOW error code."""

    def __init__(self, code: int, title: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.title = title


class Store:
    """Documents by sandbox, kind and id. Every successful write gets a new etag."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self._rng = random.Random(f"{config.seed}:etags")
        self._docs: dict[str, dict[str, dict[str, Doc]]] = {}
        self.rival_writes: list[tuple[str, str]] = []
        self._recent: OrderedDict[tuple[str, str], Doc] = OrderedDict()
        self._finishing: dict[tuple[str, str, str], float] = {}
        # When a client (not the rival writer) last changed each document, epoch ms: the runs
        # that start after it are the ones a change can break (sim/runs.py).
        self.changed_at: dict[tuple[str, str, str], int] = {}

    def docs(self, sandbox: str, kind: str) -> dict[str, Doc]:
        """The live mapping of id to document for one sandbox and kind."""
        return self._docs.setdefault(sandbox, {}).setdefault(kind, {})

    def get(self, sandbox: str, kind: str, doc_id: str) -> Doc | None:
        """The stored document (not a copy: callers serialise, never mutate).

        With ``on_demand`` an unknown id in the default sandbox is generated for this read and
        kept only once written, so 100,000 targets need no 100,000 documents in memory.
        """
        doc = self.docs(sandbox, kind).get(doc_id)
        if doc is not None and self._finishing:
            self._finish(sandbox, kind, doc)
        if doc is None and self.config.on_demand and sandbox == self.config.sandbox:
            key = (kind, doc_id)
            doc = self._recent.pop(key, None) or self.build(kind, doc_id)
            # A read is usually followed by its PATCH: keep recent ones instead of rebuilding.
            self._recent[key] = doc
            if len(self._recent) > RECENT_ON_DEMAND:
                self._recent.popitem(last=False)
        return doc

    def busy(self, sandbox: str, kind: str, doc_id: str) -> bool:
        """Whether the last write's operation is still in progress (a new write gets 1421)."""
        doc = self.get(sandbox, kind, doc_id)
        return doc is not None and (sandbox, kind, doc_id) in self._finishing

    def _finish(self, sandbox: str, kind: str, doc: Doc) -> None:
        """Complete a write's lastOperation once its time has come (Flow Service is async)."""
        key = (sandbox, kind, doc["id"])
        due = self._finishing.get(key)
        if due is None or time.monotonic() < due:
            return
        del self._finishing[key]
        doc["lastOperation"] |= {
            "updated": generate.now_ms(),
            "percentCompleted": 100.0,
            "status": {"value": "completed", "errors": []},
        }
        doc["updatedAt"] = doc["lastOperation"]["updated"]

    def writable(self, sandbox: str, kind: str, doc_id: str) -> Doc:
        """The document to be written, kept from now on (an on-demand one included)."""
        doc = self.get(sandbox, kind, doc_id)
        if doc is None:
            raise KeyError(doc_id)
        self._recent.pop((kind, doc_id), None)
        return self.docs(sandbox, kind).setdefault(doc_id, doc)

    def put(self, kind: str, doc: Doc, sandbox: str | None = None) -> Doc:
        """Add or replace a document, normalised to the schema's types."""
        sandbox = sandbox or self.config.sandbox
        created = (
            int(doc["createdAt"]) if isinstance(doc.get("createdAt"), int) else generate.now_ms()
        )
        stored = generate.normalise(doc, kind, sandbox, self.config.org_id, created)
        self.docs(sandbox, kind)[stored["id"]] = stored
        return stored

    def seed(self) -> None:
        """Load the fixtures, the generated documents and any ``--load`` files."""
        self.put("flows", generate.load_fixture("flow-destination-batch.json"))
        self.put("flows", generate.load_fixture("flow-source-bigquery.json"))
        self.put("connections", generate.load_fixture("connection-salesforce.json"))
        for name in ("target-connection-s3.json", "target-connection-sftp.json"):
            self.put("targetConnections", generate.load_fixture(name))
        self.put("sourceConnections", generate.load_fixture("source-connection-gcs.json"))
        rng = random.Random(f"{self.config.seed}:documents")
        for _ in range(self.config.flows):
            self.ensure(
                "flows", generate.rng_uuid(rng), "destination" if rng.random() < 0.7 else "source"
            )
        for _ in range(self.config.connections):
            self.ensure("connections", generate.rng_uuid(rng))
        self._seed_exports()
        for kind, doc_id, shape in self.config.ensure:
            self.ensure(kind, doc_id, shape)
        for path in self.config.load:
            self.load_file(path)

    def _seed_exports(self) -> None:
        """Generated target connections (mixed shapes and file types) and source connections."""
        rng = random.Random(f"{self.config.seed}:exports")
        for _ in range(self.config.target_connections):
            doc = self.ensure(
                "targetConnections", generate.rng_uuid(rng), exports.seeded_shape(rng)
            )
            exports.vary_file_type(doc, rng)
        for _ in range(self.config.source_connections):
            self.ensure("sourceConnections", generate.rng_uuid(rng))

    def ensure(self, kind: str, doc_id: str, shape: str = "destination") -> Doc:
        """The document ``doc_id``, generated in ``shape`` if it does not exist yet."""
        existing = self.docs(self.config.sandbox, kind).get(doc_id)
        if existing is not None:
            return existing
        doc = self.build(kind, doc_id, shape)
        self.docs(self.config.sandbox, kind)[doc_id] = doc
        return doc

    def build(self, kind: str, doc_id: str, shape: str = "destination") -> Doc:
        """A generated document for ``doc_id``, the same every time for the same seed.

        ``shape``: ``destination`` or ``source`` for flows; ``s3`` (also what any other shape
        means), ``sftp`` or ``s3-dataset`` for target connections.
        """
        rng = random.Random(f"{self.config.seed}:{kind}:{doc_id}")
        if kind in ("targetConnections", "sourceConnections"):
            doc = _export_doc(kind, doc_id, shape, rng)
        elif kind == "connections":
            doc = generate.connection(
                generate.load_fixture("connection-salesforce.json"), doc_id, rng
            )
        elif shape == "source":
            doc = generate.source_flow(
                generate.load_fixture("flow-source-bigquery.json"), doc_id, rng
            )
        else:
            doc = generate.destination_flow(
                generate.load_fixture("flow-destination-batch.json"), doc_id, rng
            )
        sandbox = self.config.sandbox
        created = int(doc["createdAt"])
        return generate.normalise(doc, kind, sandbox, self.config.org_id, created, copy=False)

    def load_file(self, path: Path) -> None:
        """Add documents from a JSON file: a list of flows, or ``{"flows": [...], KIND: [...]}``
        for any of :data:`KINDS`."""
        data = json.loads(Path(path).read_text())
        if isinstance(data, list):
            data = {"flows": data}
        for kind in KINDS:
            for doc in data.get(kind, []):
                self.put(kind, doc)

    def patch(
        self, sandbox: str, kind: str, doc_id: str, ops: Any, client: str, apply: bool = True
    ) -> str:
        """Apply ``ops`` atomically and return the new etag; invalid ops raise PatchRejected.

        With ``apply=False`` the PATCH is accepted and recorded but the document is left as it
        was: a fault that makes a verifying client earn its keep.
        """
        doc = self.writable(sandbox, kind, doc_id)
        normalised = normalise_ops(ops)
        try:
            updated = jsonpatch.JsonPatch(normalised).apply(generate.clone(doc), in_place=True)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
            raise PatchRejected(
                1455,
                "Invalid patch instructions",
                f"An error has occurred while validating patch instructions: {exc}",
            ) from exc
        result = updated if apply else generate.clone(doc)
        return self._commit(sandbox, kind, result, client, normalised, "update")

    def set_state(self, sandbox: str, doc_id: str, state: str, client: str) -> str:
        """Enable or disable a flow; returns the new etag."""
        doc = generate.clone(self.writable(sandbox, "flows", doc_id))
        doc["state"] = state
        op = "enable" if state == "enabled" else "disable"
        return self._commit(sandbox, "flows", doc, client, [], op)

    def rival_write(self, sandbox: str, kind: str, doc_id: str) -> None:
        """Another writer edits the document: a foreign audience goes in at index 0."""
        doc = generate.clone(self.writable(sandbox, kind, doc_id))
        foreign = generate.rng_uuid(self._rng)
        selectors = _segment_selectors(doc)
        if selectors is not None:
            value = {"id": foreign, "name": "Added by another writer"}
            selectors.insert(0, {"type": "PLATFORM_SEGMENT", "value": value})
        else:
            doc["description"] = f"edited by another writer ({foreign})"
        self.rival_writes.append((doc_id, foreign))
        self._commit(sandbox, kind, doc, RIVAL, [], "update")

    def _commit(
        self, sandbox: str, kind: str, doc: Doc, client: str, ops: list[Doc], operation: str
    ) -> str:
        now = generate.now_ms()
        etag = generate.new_etag(self._rng)
        doc.update(etag=etag, version=etag, updatedAt=now, updatedBy=client, updatedClient=client)
        delay = self.config.operation_s
        doc["lastOperation"] = {
            "started": now,
            "updated": now,
            "percentCompleted": 0.0 if delay else 100.0,
            "status": {"value": "inProgress" if delay else "completed", "errors": []},
            "ops": ops,
            "operation": operation,
        }
        if delay:
            self._finishing[(sandbox, kind, doc["id"])] = time.monotonic() + delay
        if client != RIVAL:
            self.changed_at[(sandbox, kind, doc["id"])] = now
        self.docs(sandbox, kind)[doc["id"]] = doc
        return etag


def _export_doc(kind: str, doc_id: str, shape: str, rng: random.Random) -> Doc:
    template = generate.load_fixture(exports.fixture_for(kind, shape))
    if kind == "sourceConnections":
        return exports.source_connection(template, doc_id, rng)
    return exports.target_connection(template, doc_id, shape, rng)


def normalise_ops(ops: Any) -> list[Doc]:
    """Check a PATCH body as Flow Service does and lower-case the op names."""
    if not isinstance(ops, list) or not ops:
        raise PatchRejected(
            1455, "Invalid patch instructions", "The body must be a non-empty JSON array."
        )
    return [_normalise_op(op) for op in ops]


def _normalise_op(op: Any) -> Doc:
    if not isinstance(op, dict) or not isinstance(op.get("op"), str):
        raise _missing("op")
    if not isinstance(op.get("path"), str):
        raise _missing("path")
    name = op["op"].lower()
    if name not in SUPPORTED_OPS:
        raise PatchRejected(1434, "Unsupported operation", f"Unsupported operation '{op['op']}'")
    if "/" + op["path"].split("/")[1 if op["path"] else 0] in READ_ONLY_PATHS:
        raise PatchRejected(
            1455, "Invalid patch instructions", f"Path '{op['path']}' is read-only."
        )
    if name != "remove" and "value" not in op:
        raise _missing("value")
    out = {"op": name, "path": op["path"]}
    if name != "remove":
        out["value"] = op["value"]
    return out


def _missing(field: str) -> PatchRejected:
    message = f"An error has occurred while validating patch instructions: Missing field '{field}'."
    return PatchRejected(1455, "Invalid patch instructions", message)


def _segment_selectors(doc: Doc) -> list[Any] | None:
    for transformation in doc.get("transformations") or ():
        params = transformation.get("params") if isinstance(transformation, dict) else None
        selectors = (params or {}).get("segmentSelectors", {}).get("selectors")
        if isinstance(selectors, list):
            return selectors
    return None
