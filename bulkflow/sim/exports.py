"""Target and source connections the simulator serves: Adobe's examples and generated look-alikes.

Target connections hold a destination's export settings, shaped like the destinations spec's
``Amazon_S3_Target_Connection_Segment_V2``/``…_Dataset_V2`` and ``SFTP_Target_Connection``
examples (``params``: ``mode``, ``bucketName``/``path`` or ``remotePath``, ``compression``,
``fileType`` with ``csvOptions`` for audience exports, ``datasetFileType`` for dataset exports).
Source connections hold where a source reads (``params.path``) and in what format
(``data.format``), as the sources spec's ``SourceConnectionItemDTO`` describes. The SFTP
fixture adds the V2 export fields to Adobe's example, which shows only ``remotePath``/``format``.
"""

from __future__ import annotations

import random
from typing import Any

from bulkflow.sim.generate import rng_uuid, stamp

Doc = dict[str, Any]

S3_TARGET_ID = "e8ebfb80-5387-454d-812d-34202541f17f"
SFTP_TARGET_ID = "94c6fb2e-9431-42fd-aeee-c83e67c43578"
SOURCE_CONNECTION_ID = "eb19c882-f19c-4d63-ad21-1d7ba9b21a85"
S3_SPEC = "4fce964d-3f37-408f-9778-e597338a21ee"
SFTP_SPEC = "64ef4b8b-a6e0-41b5-9677-3805d1ee5dd0"
#: Generated target connection shapes, and how often seeding draws each.
TARGET_SHAPES = (("s3", 0.6), ("sftp", 0.25), ("s3-dataset", 0.15))
# The enums of SegmentTargetConnectionParams_V2.csvOptions and BaseTargetConnectionParams_V2.
DELIMITERS = (",", "\t", "|", ";", ":")
QUOTES = ('"', "")
ESCAPES = ("\\", "'")
NULL_VALUES = ("null", '""', "")
COMPRESSIONS = ("NONE", "GZIP")
SEGMENT_FILE_TYPES = ("CSV", "CSV", "JSON", "PARQUET")  # CSV the most common
DATASET_FILE_TYPES = ("JSON", "PARQUET")
SOURCE_FORMATS = ("delimited", "json", "parquet")
SOURCE_SPECS = (
    ("32e8f412-cdf7-464c-9885-78184cb113fd", "Google Cloud Storage"),  # the spec example's
    ("ecadc60c-7455-4d87-84dc-2a0e293d997b", "Amazon S3"),  # illustrative
    ("b7bf2577-4520-42c9-bae9-cad01560f7bc", "SFTP"),  # illustrative
)


def fixture_for(kind: str, shape: str) -> str:
    """The packaged example a generated document of ``kind`` and ``shape`` starts from."""
    if kind == "sourceConnections":
        return "source-connection-gcs.json"
    return "target-connection-sftp.json" if shape == "sftp" else "target-connection-s3.json"


def target_connection(template: Doc, doc_id: str, shape: str, rng: random.Random) -> Doc:
    """An S3 or SFTP target connection (``shape``: ``s3``, ``sftp`` or ``s3-dataset``)."""
    doc = template  # a fresh fixture copy, made this document
    stamp(doc, doc_id, rng)
    tag = f"{rng.getrandbits(24):06x}"
    params: Doc = {"mode": "Server-to-server", "compression": rng.choice(COMPRESSIONS)}
    if shape == "sftp":
        doc["name"] = f"SFTP export {tag}"
        params["remotePath"] = f"/exports/{tag}"
    else:
        doc["name"] = f"Amazon S3 {'dataset' if shape == 's3-dataset' else 'audience'} export {tag}"
        params |= {"bucketName": f"exports-{tag}", "path": f"dataexports/{tag}"}
    if shape == "s3-dataset":
        params["datasetFileType"] = rng.choice(DATASET_FILE_TYPES)
    else:
        # An ``s3`` or ``sftp`` shape asked for by id is a CSV export, so that a job changing
        # its CSV options finds them; seeding varies the file type (see :func:`seeded_shape`).
        params["fileType"] = "CSV"
        params["csvOptions"] = _csv_options(rng)
    doc["params"] = params
    doc["baseConnectionId"] = _uuid(rng)
    doc["inheritedAttributes"]["baseConnection"]["id"] = doc["baseConnectionId"]
    return doc


def vary_file_type(doc: Doc, rng: random.Random) -> None:
    """Seeded audience exports are not all CSV: some write JSON or Parquet (no CSV options)."""
    params = doc["params"]
    if "fileType" in params:
        params["fileType"] = rng.choice(SEGMENT_FILE_TYPES)
        if params["fileType"] != "CSV":
            del params["csvOptions"]


def source_connection(template: Doc, doc_id: str, rng: random.Random) -> Doc:
    """A file-based source connection with its own path, format and connector."""
    doc = template  # a fresh fixture copy, made this document
    stamp(doc, doc_id, rng)
    spec_id, spec_name = rng.choice(SOURCE_SPECS)
    tag = f"{rng.getrandbits(24):06x}"
    doc["name"] = f"{spec_name} source {tag}"
    doc["description"] = f"Customer files from {spec_name} ({tag})"
    fmt = rng.choice(SOURCE_FORMATS)
    extension = {"delimited": "csv", "json": "json", "parquet": "parquet"}[fmt]
    doc["data"] = {"format": fmt}
    doc["params"] = {"path": f"/landing/{tag}/customers.{extension}"}
    doc["connectionSpec"]["id"] = spec_id
    doc["baseConnectionId"] = _uuid(rng)
    doc["providerRefId"] = _uuid(rng)
    doc["inheritedAttributes"]["baseConnection"] = {
        "id": doc["baseConnectionId"],
        "connectionSpec": {"id": spec_id, "version": "1.0"},
    }
    return doc


def seeded_shape(rng: random.Random) -> str:
    """A target connection shape for seeding, drawn by :data:`TARGET_SHAPES`' weights."""
    shapes = [shape for shape, _ in TARGET_SHAPES]
    return rng.choices(shapes, [weight for _, weight in TARGET_SHAPES])[0]


def _csv_options(rng: random.Random) -> Doc:
    return {
        "delimiter": rng.choice(DELIMITERS),
        "quote": rng.choice(QUOTES),
        "escape": rng.choice(ESCAPES),
        "nullValue": rng.choice(NULL_VALUES),
        "emptyValue": rng.choice(NULL_VALUES),
    }


def _uuid(rng: random.Random) -> str:
    return rng_uuid(rng)
