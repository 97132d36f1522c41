"""Documents the simulator serves: Adobe's tutorial fixtures and generated look-alikes.

The fixtures carry placeholders where the OpenAPI schema wants numbers (``"{CREATED_AT}"``), so
they are normalised on load. Generated documents are shaped like the fixtures and vary in
audiences, attributes, names and destination or source kinds, deterministically from a seed.
The connection spec ids marked *illustrative* below are made up for variety; the fixtures' own
ids are Adobe's.
"""

from __future__ import annotations

import functools
import hashlib
import random
import time
import uuid
from importlib import resources
from typing import Any

import orjson

Doc = dict[str, Any]

DESTINATION_FLOW_ID = "226fb2e1-db69-4760-b67e-9e671e05abfc"
FIXTURE_FLOW_SPEC = "71471eba-b620-49e4-90fd-23f1fa0174d8"
SOURCE_FLOW_ID = "2edc08ac-4df5-4fe6-936f-81a19ce92f5c"
CONNECTION_ID = "139f6a5f-a78b-4744-9f6a-5fa78bd74431"

# Audiences that generated destination flows draw from. The first is the tutorial's retired
# audience, present in most flows so that a rollout job has something to remove.
AUDIENCES: tuple[tuple[str, str], ...] = (
    ("9f7d37fd-7039-4454-94ef-2b0cd6c3206a", "Interested in Mountain Biking"),
    ("f52a3785-2e7c-40a7-8137-9be99af7794e", "Birth year 1970"),
    ("6caa79b9-39e0-4c37-892b-5061cdca2377", "GCM_E2E_PersonId_Test"),
    ("4c41c318-9e8c-4a4f-b880-877cdd629fc7", "GCM_NewBatch_Segment"),
    ("0d8e2c1a-51f4-4b1e-9a57-0c7b8f6e1a01", "Loyalty gold tier"),
    ("1e9f3d2b-62a5-4c2f-8b68-1d8c907f2b02", "Cart abandoners 7d"),
    ("2fa04e3c-73b6-4d30-9c79-2e9da1803c03", "Newsletter subscribers"),
    ("30b15f4d-84c7-4e41-8d8a-3faeb2914d04", "High lifetime value"),
)
PROFILE_ATTRIBUTES = (
    "Email",
    "person.name.firstName",
    "person.name.lastName",
    "personalEmail.address",
    "segmentMembership.status",
    "mobilePhone.number",
    "homeAddress.city",
)
# Destination kinds: connection spec, name, flow spec, and the share of generated destination
# flows of that kind (30% Amazon S3, so that a fault on one kind hits a known share).
DESTINATION_SPECS = (
    ("0b23e41a-cb4a-4321-a78f-3b654f5d7d97", "Batch file", FIXTURE_FLOW_SPEC, 0.25),  # fixture's
    (
        "4fce964d-3f37-408f-9778-e597338a21ee",
        "Amazon S3",
        "269ba276-16fc-47db-92b0-c1049a3c131f",
        0.30,
    ),
    ("64ef4b8b-a6e0-41b5-9677-3805d1ee5dd0", "SFTP", "fd36aaa4-bf2b-43fb-9387-43785eeeb799", 0.25),
    (
        "6d6b59bf-fb58-4107-9064-4d246c0e5bb2",
        "Azure Blob",
        "52c7f1a8-0b5e-4d1a-9c2e-7a4f3b8d6e10",
        0.20,
    ),
)  # the other ids are illustrative
SOURCE_SPECS = (
    ("3c9b37f8-13a6-43d8-bad3-b863b941fedd", "Google BigQuery"),  # the fixture's
    ("26d738e0-8963-47ea-aadf-c60de735468a", "PostgreSQL"),  # illustrative
    ("cfc0fee1-7dc0-40ef-b73e-d8b134c436f5", "Salesforce"),  # the connection fixture's
)
FREQUENCIES = ("once", "minute", "hour", "day", "week")


def load_fixture(name: str) -> Doc:
    """A fresh copy of one of the packaged fixture documents."""
    doc: Doc = orjson.loads(_fixture_bytes(name))
    return doc


@functools.cache
def _fixture_bytes(name: str) -> bytes:
    # Compact: the files are indented for people, and parsing 6 KB instead of 11 KB matters
    # when every on-demand document starts as a fresh copy of a fixture.
    raw = resources.files("bulkflow.sim").joinpath("fixtures", name).read_bytes()
    return orjson.dumps(orjson.loads(raw))


def now_ms() -> int:
    """Epoch milliseconds, the unit of every timestamp Flow Service serves."""
    return int(time.time() * 1000)


def new_etag(rng: random.Random) -> str:
    """An opaque etag shaped like Adobe's, literal quotes included."""
    return f'"{rng.getrandbits(32):08x}-0000-0200-0000-{rng.getrandbits(48):012x}"'


def rng_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng``, so generated ids are reproducible."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def clone(doc: Doc) -> Doc:
    """A deep copy of JSON data, several times faster than ``copy.deepcopy``."""
    copied: Doc = orjson.loads(orjson.dumps(doc))
    return copied


def normalise(
    doc: Doc, kind: str, sandbox: str, org_id: str, created_ms: int, copy: bool = True
) -> Doc:
    """Replace the tutorials' placeholders with values of the types the schema wants."""
    doc = clone(doc) if copy else doc
    for key in ("createdAt", "updatedAt"):
        if not isinstance(doc.get(key), int):
            doc[key] = created_ms
    for key in ("createdBy", "updatedBy", "createdClient", "updatedClient"):
        if str(doc.get(key, "{")).startswith("{"):
            doc[key] = "exc_app"
    doc["sandboxName"] = sandbox
    doc["sandboxId"] = f"sandbox-{sandbox}"
    doc["imsOrgId"] = org_id
    doc.setdefault("version", doc.get("etag"))
    if kind == "flows":
        doc["runs"] = f"/runs?property=flowId=={doc['id']}"
        _normalise_schedule(doc)
        properties = doc.setdefault("inheritedAttributes", {}).setdefault("properties", {})
        properties.setdefault("isDestinationFlow", _has_segment_selectors(doc))
    return doc


def _has_segment_selectors(doc: Doc) -> bool:
    return any(
        isinstance(t, dict) and "segmentSelectors" in (t.get("params") or {})
        for t in doc.get("transformations") or ()
    )


def _normalise_schedule(doc: Doc) -> None:
    params = doc.get("scheduleParams")
    if not isinstance(params, dict):
        return
    # The schema types startTime as an integer but interval as a string.
    if isinstance(params.get("startTime"), str) and params["startTime"].isdigit():
        params["startTime"] = int(params["startTime"])
    if isinstance(params.get("backfill"), str):
        params["backfill"] = params["backfill"] == "true"


def stamp(doc: Doc, doc_id: str, rng: random.Random) -> None:
    """Give a generated document its id, etag and a creation time within the past year."""
    etag = new_etag(rng)
    created = now_ms() - rng.randint(86_400_000, 365 * 86_400_000)
    doc.update(id=doc_id, etag=etag, version=etag, createdAt=created)
    doc["updatedAt"] = created + rng.randint(0, 86_400_000)


def _selector(audience: tuple[str, str], rng: random.Random) -> Doc:
    mode = rng.choice(("DAILY_FULL_EXPORT", "FIRST_FULL_THEN_INCREMENTAL"))
    frequency = "DAILY" if mode == "FIRST_FULL_THEN_INCREMENTAL" else rng.choice(("ONCE", "DAILY"))
    return {
        "type": "PLATFORM_SEGMENT",
        "value": {
            "id": audience[0],
            "name": audience[1],
            "filenameTemplate": "%DESTINATION_NAME%_%SEGMENT_ID%_%DATETIME(YYYYMMdd_HHmmss)%",
            "exportMode": mode,
            "schedule": {"frequency": frequency, "startDate": "2026-01-05", "startTime": "20:00"},
            "createTime": "1640289901",
            "updateTime": "1640289901",
        },
    }


def destination_flow(template: Doc, flow_id: str, rng: random.Random) -> Doc:
    """A destination dataflow like the tutorial's, with its own audiences and attributes.

    ``template`` (a fresh :func:`load_fixture` copy) is changed in place and returned; copying a
    10 KB document per generated flow would make the simulator a benchmark's bottleneck.
    """
    doc = template  # a fresh copy from load_fixture, made this document
    stamp(doc, flow_id, rng)
    spec_id, spec_name, flow_spec, _ = destination_spec(flow_id)
    doc["name"] = f"{spec_name} export {flow_id[:8]}"
    doc["flowSpec"]["id"] = flow_spec
    doc["inheritedAttributes"]["targetConnections"][0]["connectionSpec"]["id"] = spec_id
    doc["inheritedAttributes"]["targetConnections"][0]["baseConnection"]["connectionSpec"]["id"] = (
        spec_id
    )
    retired, others = AUDIENCES[0], list(AUDIENCES[1:])
    audiences = ([retired] if rng.random() < 0.7 else []) + rng.sample(others, rng.randint(1, 4))
    params = doc["transformations"][0]["params"]
    params["segmentSelectors"]["selectors"] = [_selector(a, rng) for a in audiences]
    attributes = rng.sample(PROFILE_ATTRIBUTES, rng.randint(2, 5))
    params["profileSelectors"]["selectors"] = [
        {"type": "JSON_PATH", "value": {"path": path, "operator": "EXISTS"}} for path in attributes
    ]
    doc.pop("lastOperation", None)
    return doc


def destination_spec(flow_id: str) -> tuple[str, str, str, float]:
    """The destination kind of a generated flow, drawn by the kinds' shares from its id alone:
    the same flow is of the same kind whatever the seed."""
    digest = hashlib.sha256(flow_id.encode()).digest()
    draw = int.from_bytes(digest[:8]) / 2**64
    for spec in DESTINATION_SPECS:
        draw -= spec[3]
        if draw < 0:
            return spec
    return DESTINATION_SPECS[-1]


def source_flow(template: Doc, flow_id: str, rng: random.Random) -> Doc:
    """A source dataflow like the BigQuery one, with its own schedule, spec and mapping."""
    doc = template  # a fresh copy from load_fixture, made this document
    stamp(doc, flow_id, rng)
    spec_id, spec_name = rng.choice(SOURCE_SPECS)
    doc["name"] = f"{spec_name} ingestion {flow_id[:8]}"
    source = doc["inheritedAttributes"]["sourceConnections"][0]
    source["connectionSpec"]["id"] = spec_id
    source["baseConnection"]["connectionSpec"]["id"] = spec_id
    doc["scheduleParams"]["frequency"] = rng.choice(FREQUENCIES)
    doc["transformations"][1]["params"] = {
        "mappingId": f"{rng.getrandbits(128):032x}",
        "mappingVersion": str(rng.randint(0, 5)),  # a string in the schema
    }
    doc.pop("lastOperation", None)
    return doc


def connection(template: Doc, connection_id: str, rng: random.Random) -> Doc:
    """A Salesforce-like base connection with its own account name."""
    doc = template  # a fresh copy from load_fixture, made this document
    stamp(doc, connection_id, rng)
    account = f"account-{rng.getrandbits(24):06x}"
    doc["name"] = f"Salesforce {account}"
    doc["auth"]["params"] = {
        "username": f"{account}@example.com",
        "password": "sim-initial-password",
        "securityToken": "sim-initial-token",
        "environmentUrl": "login.salesforce.com",
    }
    return doc
