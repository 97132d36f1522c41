"""Target and source connections in the simulator: documents, lists, PATCH, the connection test."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator

from bulkflow.sim import Faults, SimConfig
from bulkflow.sim.store import Store
from tests.conftest import CONNECTION, Api, SimFactory

DATA = Path(__file__).parent.parent / "data"
S3_TARGET = "e8ebfb80-5387-454d-812d-34202541f17f"  # Adobe's Amazon_S3_Target_Connection_Segment_V2
SFTP_TARGET = "94c6fb2e-9431-42fd-aeee-c83e67c43578"  # Adobe's SFTP_Target_Connection
GCS_SOURCE = "eb19c882-f19c-4d63-ad21-1d7ba9b21a85"  # the sources spec's example ids
S3_SPEC = "4fce964d-3f37-408f-9778-e597338a21ee"
SFTP_SPEC = "64ef4b8b-a6e0-41b5-9677-3805d1ee5dd0"


@cache
def _components(name: str) -> dict[str, Any]:
    spec = yaml.safe_load((DATA / f"flow-service-{name}.openapi.yaml").read_text())
    components: dict[str, Any] = spec["components"]
    return components


def _validate(spec: str, schema_name: str, body: Any) -> None:
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": _components(spec)}
    OAS30Validator(schema).validate(body)


def _validate_target_connection(doc: dict[str, Any]) -> None:
    """The sources spec's item schema, and the destinations spec's V2 ``params`` for its kind.

    The destinations spec's own ``TargetConnectionItem`` cannot be used whole: its ``params``
    oneOf has two branches every object matches, and it types ``baseConnection`` as a string
    where its examples hold an object.
    """
    _validate("sources", "TargetConnectionItemDTO", doc)
    spec_id = doc["connectionSpec"]["id"]
    params = "AmazonS3" if spec_id == S3_SPEC else "SFTP"
    _validate("destinations", f"{params}TargetConnectionParams_V2", doc["params"])


def test_fixtures_are_served_under_adobes_ids() -> None:
    """Adobe's S3 and SFTP target connection examples and a source connection are always there."""
    store = Store(SimConfig())
    store.seed()
    s3 = store.get("prod", "targetConnections", S3_TARGET)
    sftp = store.get("prod", "targetConnections", SFTP_TARGET)
    source = store.get("prod", "sourceConnections", GCS_SOURCE)
    assert s3 is not None
    assert sftp is not None
    assert source is not None
    assert s3["params"]["csvOptions"]["delimiter"] == ","
    assert sftp["params"]["remotePath"] == "path-to-storage-location"
    assert source["data"]["format"] == "delimited"
    assert source["sandboxName"] == "prod"


@pytest.mark.parametrize("kind", ["targetConnections", "sourceConnections"])
def test_generated_connections_are_deterministic_from_the_id(kind: str) -> None:
    """The same id and seed give the same document; another id gives another."""
    one, two = Store(SimConfig(seed=3)), Store(SimConfig(seed=3))
    doc_id = "0f0e0d0c-0b0a-4909-8807-060504030201"
    first, second = one.build(kind, doc_id), two.build(kind, doc_id)
    for volatile in ("createdAt", "updatedAt"):
        first.pop(volatile), second.pop(volatile)
    assert first == second
    other = one.build(kind, "1f0e0d0c-0b0a-4909-8807-060504030201")
    assert (other["name"], other["params"]) != (first["name"], first["params"])


def test_generated_target_connections_vary() -> None:
    """Seeded target connections mix S3 and SFTP, compressions, file types and delimiters."""
    store = Store(SimConfig(target_connections=120, seed=4))
    store.seed()
    docs = list(store.docs("prod", "targetConnections").values())
    assert len(docs) == 122
    assert {d["connectionSpec"]["id"] for d in docs} == {S3_SPEC, SFTP_SPEC}
    assert {d["params"]["compression"] for d in docs} == {"NONE", "GZIP"}
    assert {"fileType" in d["params"] for d in docs} == {True, False}  # segment and dataset exports
    delimiters = {
        d["params"]["csvOptions"]["delimiter"] for d in docs if "csvOptions" in d["params"]
    }
    assert len(delimiters) > 2


def test_s3_shape_is_a_csv_export() -> None:
    """``ensure(..., "s3")`` gives an S3 segment export with CSV options to change."""
    store = Store(SimConfig())
    doc = store.ensure("targetConnections", "2f0e0d0c-0b0a-4909-8807-060504030201", "s3")
    assert doc["connectionSpec"]["id"] == S3_SPEC
    assert doc["params"]["fileType"] == "CSV"
    assert set(doc["params"]["csvOptions"]) == {
        "delimiter",
        "quote",
        "escape",
        "nullValue",
        "emptyValue",
    }


async def test_target_connection_documents_fit_the_openapi_schemas(
    make_sim: SimFactory, make_api: Any
) -> None:
    """List and item bodies of /targetConnections validate against Adobe's schemas."""
    api: Api = make_api(await make_sim(target_connections=30))
    _, body, _ = await api.request("GET", "/targetConnections?limit=50")
    _validate("sources", "TargetConnectionsListResponse", body)
    assert len(body["items"]) == 32
    for doc in body["items"]:
        _validate_target_connection(doc)


async def test_source_connection_documents_fit_the_openapi_schema(
    make_sim: SimFactory, make_api: Any
) -> None:
    """List and item bodies of /sourceConnections validate against SourceConnectionItemDTO."""
    api: Api = make_api(await make_sim(source_connections=20))
    _, body, _ = await api.request("GET", "/sourceConnections?limit=50")
    _validate("sources", "SourceConnectionsListResponse", body)
    assert len(body["items"]) == 21
    for doc in body["items"]:
        _validate("sources", "SourceConnectionItemDTO", doc)
        assert isinstance(doc["params"]["path"], str)


async def test_a_patched_target_connection_still_fits(api: Api) -> None:
    """PATCH with If-Match changes params; the answer is {id, etag} and the document still fits."""
    etag = (await api.get("targetConnections", S3_TARGET))["etag"]
    ops = [
        {"op": "replace", "path": "/params/compression", "value": "GZIP"},
        {"op": "replace", "path": "/params/csvOptions/delimiter", "value": ";"},
    ]
    status, body, _ = await api.patch("targetConnections", S3_TARGET, ops, etag)
    assert status == 200, body
    _validate("sources", "CreateTargetConnectionResponse", body)
    doc = await api.get("targetConnections", S3_TARGET)
    assert doc["etag"] == body["etag"] != etag
    assert (doc["params"]["compression"], doc["params"]["csvOptions"]["delimiter"]) == ("GZIP", ";")
    _validate_target_connection(doc)


async def test_a_stale_etag_is_refused_on_source_connections(api: Api) -> None:
    """412 when If-Match is not the current etag, as for flows."""
    ops = [{"op": "replace", "path": "/params/path", "value": "/acme/new.csv"}]
    status, body, _ = await api.patch("sourceConnections", GCS_SOURCE, ops, '"stale"')
    assert status == 412, body
    assert (await api.get("sourceConnections", GCS_SOURCE))["params"]["path"].endswith("spring.csv")


async def test_list_filters_and_pages_target_connections(
    make_sim: SimFactory, make_api: Any
) -> None:
    """``property=connectionSpec.id==…`` selects; ``id==a,b`` fetches a batch; pages follow."""
    api: Api = make_api(await make_sim(target_connections=150))
    _, sftp, _ = await api.request(
        "GET", f"/targetConnections?property=connectionSpec.id=={SFTP_SPEC}"
    )
    assert sftp["items"]
    assert all(d["connectionSpec"]["id"] == SFTP_SPEC for d in sftp["items"])
    _, batch, _ = await api.request(
        "GET", f"/targetConnections?property=id=={S3_TARGET},{SFTP_TARGET}"
    )
    assert {d["id"] for d in batch["items"]} == {S3_TARGET, SFTP_TARGET}
    _, first, _ = await api.request("GET", "/targetConnections?limit=100")
    token = first["_links"]["next"]["href"].split("continuationToken=")[1]
    _, second, _ = await api.request("GET", f"/targetConnections?continuationToken={token}")
    assert len(first["items"]) + len(second["items"]) == 152


async def test_unknown_target_connection_is_404(api: Api) -> None:
    """An unknown id answers FLOW-1439-404 naming the kind."""
    status, body, _ = await api.request("GET", "/targetConnections/no-such-id")
    assert status == 404
    assert body["report"]["type"] == "targetConnections"


async def test_rival_writer_edits_target_connections(make_sim: SimFactory, make_api: Any) -> None:
    """The rival-writer fault also edits a target connection between a read and its PATCH."""
    sim = await make_sim(faults=Faults(rival_ids=frozenset({S3_TARGET})))
    api: Api = make_api(sim)
    etag = (await api.get("targetConnections", S3_TARGET))["etag"]
    ops = [{"op": "replace", "path": "/params/compression", "value": "GZIP"}]
    status, _, _ = await api.patch("targetConnections", S3_TARGET, ops, etag)
    assert status == 412
    assert "another writer" in sim.doc("targetConnections", S3_TARGET)["description"]


async def test_connection_test_answers_true(api: Api) -> None:
    """``GET /connections/{id}/test`` answers ``{"result": true}`` (TestConnectionResponse)."""
    status, body, _ = await api.request("GET", f"/connections/{CONNECTION}/test")
    assert status == 200
    _validate("sources", "TestConnectionResponse", body)
    assert body == {"result": True}


async def test_connection_test_of_unknown_id_is_404(api: Api) -> None:
    """Testing a connection that does not exist is a 404."""
    status, _, _ = await api.request("GET", "/connections/no-such-id/test")
    assert status == 404


async def test_rejected_credentials_fail_the_connection_test(
    make_sim: SimFactory, make_api: Any
) -> None:
    """With ``reject_credentials_matching``, a connection holding that value tests false."""
    sim = await make_sim(faults=Faults(reject_credentials_matching="wrong-pw-1234"))
    api: Api = make_api(sim)
    etag = (await api.get("connections", CONNECTION))["etag"]
    ops = [{"op": "replace", "path": "/auth/params/password", "value": "wrong-pw-1234"}]
    assert (await api.patch("connections", CONNECTION, ops, etag))[0] == 200
    _, body, _ = await api.request("GET", f"/connections/{CONNECTION}/test")
    assert body == {"result": False}


async def test_credential_rejection_rate_is_deterministic(make_sim: SimFactory) -> None:
    """A rejection rate picks the same connections every time for the same seed and credentials."""

    async def rejected(seed: int) -> set[str]:
        sim = await make_sim(connections=200, seed=seed, faults=Faults(reject_credentials_rate=0.2))
        return {
            i
            for i in sim.store.docs("prod", "connections")
            if not sim.app.credentials_ok("prod", i)
        }

    first = await rejected(1)
    assert first == await rejected(1)
    assert 10 < len(first) < 80


def test_sim_flags_set_counts_and_the_reject_fault() -> None:
    """``bulkflow sim`` flags reach the new document counts and the credential-rejection fault."""
    from bulkflow.cli.main import build_parser
    from bulkflow.cli.sim import faults_from_args

    args = build_parser().parse_args(
        [
            "sim",
            *("--target-connections", "7", "--source-connections", "3"),
            *("--reject-credentials-matching", "bad-pw", "--reject-credentials-rate", "0.1"),
        ]
    )
    faults = faults_from_args(args)
    assert (args.target_connections, args.source_connections) == (7, 3)
    assert (faults.reject_credentials_matching, faults.reject_credentials_rate) == ("bad-pw", 0.1)
