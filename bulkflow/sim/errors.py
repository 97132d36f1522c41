"""Error bodies as Flow Service and the Adobe I/O gateway send them.

Two shapes exist (see the research notes): the FLOW envelope
(``type https://ns.adobe.com/aep/errors/FLOW-{code}-{status}``, ``title``, ``status``,
``report``, ``errorMessage``, ``errorDetails``) for errors of the service itself, and the
gateway's ``{"error_code", "message"}`` for authentication, headers and throttling.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from aiohttp import web

_request_ids = itertools.count(1)


def next_request_id() -> str:
    """Return a fresh request id, as the service puts in ``report.request-id``."""
    return f"sim-{next(_request_ids):012d}"


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """Serialise ``body`` with orjson: the simulator must not be a benchmark's bottleneck."""
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def flow_error(code: int, status: int, title: str, message: str, **report: Any) -> web.Response:
    """A Flow Service error in the current FLOW envelope."""
    body = {
        "type": f"https://ns.adobe.com/aep/errors/FLOW-{code}-{status}",
        "title": title,
        "status": status,
        "report": {"detailed-message": message, "request-id": next_request_id(), **report},
        "errorMessage": message,
        "errorDetails": message,
    }
    return json_response(body, status)


def gateway_error(
    status: int, error_code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """An Adobe I/O gateway error: ``{"error_code", "message"}``."""
    return json_response({"error_code": error_code, "message": message}, status, headers)


def not_found(kind: str, resource_id: str) -> web.Response:
    """404 ``FLOW-1439-404`` for an unknown flow or connection id."""
    message = (
        f"The requested {kind} resource {resource_id} is not found. "
        "Verify the resource ID before trying again."
    )
    return flow_error(1439, 404, "Resource not found", message, id=resource_id, type=kind)


def bad_request(code: int, title: str, message: str) -> web.Response:
    """A 400 in the FLOW envelope, e.g. 1403 (If-Match missing), 1434, 1455."""
    return flow_error(code, 400, title, message)


def version_mismatch(supplied: str, current: str, entity: str) -> web.Response:
    """412 ``FLOW-1404-412``: the If-Match etag is not the entity's current version."""
    message = (
        f"The supplied version '{supplied}' does not match the current version on entity "
        f"'{entity}' (current version {current}). Please ensure that the supplied version "
        "matches the current version on entity and try again."
    )
    return flow_error(1404, 412, "Version not matching", message)


def content_type_error() -> web.Response:
    """400 for a PATCH without a JSON Content-Type (research notes, S7)."""
    body = {
        "type": "/placeholder/type/uri",
        "status": 400,
        "title": "BadRequestError",
        "detail": "A valid content-type must be specified",
    }
    return json_response(body, 400)


SERVER_ERRORS: dict[int, tuple[int, str]] = {
    500: (1102, "Internal Server Error"),
    503: (1103, "Service Unavailable"),
    504: (1104, "Gateway Timeout"),
}


def server_error(status: int) -> web.Response:
    """A 5xx in the FLOW envelope (codes 1102-500, 1103-503, 1104-504)."""
    code, title = SERVER_ERRORS[status]
    return flow_error(code, status, title, f"{title}: injected by the simulator.")
