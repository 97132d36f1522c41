"""The simulator's aiohttp application: Flow Service routes, faults, and a ``/_sim/`` view."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from bulkflow.sim import errors
from bulkflow.sim.config import SimConfig
from bulkflow.sim.faults import FaultPlan, retry_after_header
from bulkflow.sim.filters import (
    Filter,
    QueryError,
    encode_token,
    id_candidates,
    list_query,
    parse_filter,
    sort_key,
)
from bulkflow.sim.generate import now_ms
from bulkflow.sim.ims import CLIENT, SANDBOX, TokenBook
from bulkflow.sim.runs import RUN_FIELDS, Runs
from bulkflow.sim.stats import Stats
from bulkflow.sim.store import PatchRejected, Store
from bulkflow.sim.timing import Deadlines

BASE = "/data/foundation/flowservice"
BUILD_BETWEEN_YIELDS = 10  # documents a list request looks up before letting others run
_COMMON_FIELDS = [
    "id",
    "createdAt",
    "updatedAt",
    "createdBy",
    "updatedBy",
    "createdClient",
    "updatedClient",
    "sandboxId",
    "sandboxName",
    "imsOrgId",
    "name",
    "description",
    "state",
    "version",
    "etag",
]
# The top-level properties of FlowItemDTO and ConnectionItemDTO: a filter on any other is a 400.
KNOWN_FIELDS = {
    "flows": frozenset(
        [
            *_COMMON_FIELDS,
            "flowSpec",
            "sourceConnectionIds",
            "targetConnectionIds",
            "inheritedAttributes",
            "scheduleParams",
            "transformations",
            "runs",
            "lastOperation",
            "lastRunDetails",
        ]
    ),
    "connections": frozenset([*_COMMON_FIELDS, "connectionSpec", "auth"]),
    # TargetConnectionItemDTO and SourceConnectionItemDTO (sources spec) and the destinations
    # spec's TargetConnectionItem.
    **dict.fromkeys(
        ("targetConnections", "sourceConnections"),
        frozenset(
            [
                *_COMMON_FIELDS,
                "baseConnectionId",
                "connectionSpec",
                "data",
                "params",
                "providerRefId",
                "inheritedAttributes",
                "lastOperation",
            ]
        ),
    ),
}
RETRY_AFTER = web.RequestKey("retry_after_s", float)
LOOPBACK = frozenset({"127.0.0.1", "::1"})
GARBAGE = "<html><body><h1>Service temporarily unavailable</h1></body></html>"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


REFUSED = "The flow {} cannot be updated: its destination rejects this change."
IF_MATCH_MISSING = "The header 'If-Match' is missing in the request. Please add it and try again."


class FlowServiceApp:
    """Request handlers over one :class:`Store`, with faults and observation wrapped around."""

    def __init__(self, config: SimConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.stats = Stats(keep_journal=config.journal)
        self.faults = FaultPlan(config.faults, config.seed)
        self.tokens = TokenBook(config)
        self.rival_pending: set[tuple[str, str, str]] = set()
        self.deadlines = Deadlines()
        self.runs = Runs(config, store, self.faults)

    def build(self) -> web.Application:
        """The aiohttp application with every route."""
        app = web.Application(middlewares=[self._observe, self._gateway])
        kinds = "{kind:flows|connections|targetConnections|sourceConnections}"
        app.router.add_get(f"{BASE}/runs", self.list_runs)
        app.router.add_get(f"{BASE}/{kinds}", self.list_docs)
        app.router.add_get(f"{BASE}/{kinds}/{{id}}", self.get_doc)
        app.router.add_patch(f"{BASE}/{kinds}/{{id}}", self.patch_doc)
        app.router.add_post(f"{BASE}/flows/{{id}}/action", self.flow_action)
        app.router.add_get(f"{BASE}/connections/{{id}}/test", self.test_connection)
        app.router.add_post("/ims/token/v3", self.tokens.token_endpoint)
        app.router.add_get("/_sim/stats", self.sim_stats)
        app.router.add_post("/_sim/reset", self.sim_reset)
        app.router.add_get("/_sim/docs/{kind}/{id}", self.sim_doc)
        return app

    @web.middleware
    async def _observe(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        arrived = self.stats.started()
        status, retry_after = 0, None
        try:
            response = await handler(request)
            status = response.status
            retry_after = request.get(RETRY_AFTER)
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            self.stats.finished(arrived, request.method, request.path_qs, status, retry_after)

    @web.middleware
    async def _gateway(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(BASE):
            return await handler(request)
        delay = self.faults.latency_s()
        if not delay:
            return await self._serve(request, handler)
        # Half the latency on the way in, the rest on the way out, counted from arrival: the
        # time the simulator itself spends does not add to the latency, as on a real network.
        # (Sleeping the whole latency first made requests queue behind each other's handling
        # and kept concurrent clients moving in lockstep waves.)
        arrived = self.deadlines.clock()
        await self.deadlines.until(arrived + delay / 2)
        response = await self._serve(request, handler)
        await self.deadlines.until(arrived + delay)
        return response

    async def _serve(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        rejected = self.tokens.check_headers(request) or self._inject(request)
        if rejected is not None:
            return rejected
        return await handler(request)

    def _inject(self, request: web.Request) -> web.Response | None:
        throttle = self.faults.throttle()
        if throttle is not None:
            headers = {}
            if throttle.retry_after_s is not None:
                headers["Retry-After"] = retry_after_header(throttle.retry_after_s)
                request[RETRY_AFTER] = float(headers["Retry-After"])
            return errors.gateway_error(429, "429050", "Too many requests", headers)
        if self.faults.drop():
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        status = self.faults.server_error()
        return errors.server_error(status) if status else self._hostile(request)

    def _hostile(self, request: web.Request) -> web.Response | None:
        """A gateway that redirects elsewhere or answers 200 with an HTML page."""
        redirect = self.faults.redirect(request.method, request.path_qs)
        if redirect is not None:
            status, location = redirect
            return web.Response(status=status, headers={"Location": location})
        if self.faults.garbage():
            return web.Response(text=GARBAGE, content_type="text/html")
        return None

    async def get_doc(self, request: web.Request) -> web.Response:
        """``GET /{kind}/{id}`` answers ``{"items": [doc]}`` or 404."""
        kind, doc_id, sandbox = (
            request.match_info["kind"],
            request.match_info["id"],
            request[SANDBOX],
        )
        doc = self.store.get(sandbox, kind, doc_id)
        if doc is None:
            return errors.not_found(kind, doc_id)
        self._maybe_rival(sandbox, kind, doc_id)
        return errors.json_response({"items": [self._served(doc)]})

    async def patch_doc(self, request: web.Request) -> web.Response:
        """``PATCH /{kind}/{id}`` with If-Match: JSON Patch applied atomically."""
        kind, doc_id, sandbox = (
            request.match_info["kind"],
            request.match_info["id"],
            request[SANDBOX],
        )
        if self.store.get(sandbox, kind, doc_id) is None:
            return errors.not_found(kind, doc_id)
        if_match = request.headers.get("If-Match")
        if if_match is None:
            return errors.bad_request(1403, "Header is missing", IF_MATCH_MISSING)
        if request.content_type != "application/json":
            return errors.content_type_error()
        raw = await request.read()
        if self.faults.echo_reject():
            message = f"Could not validate patch instructions {raw.decode(errors='replace')}"
            return errors.bad_request(1455, "Invalid patch instructions", message)
        try:
            ops = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return errors.bad_request(1455, "Invalid patch instructions", "The body is not JSON.")
        if (sandbox, kind, doc_id) in self.rival_pending:
            self.rival_pending.discard((sandbox, kind, doc_id))
            self.store.rival_write(sandbox, kind, doc_id)
        refused = self._unwritable(sandbox, kind, doc_id, if_match)
        if refused is not None:
            return refused
        try:
            etag = self.store.patch(
                sandbox, kind, doc_id, ops, request[CLIENT], apply=not self.faults.ignore_patch()
            )
        except PatchRejected as exc:
            return errors.bad_request(exc.code, exc.title, str(exc))
        return self._write_answer(doc_id, etag)

    def _unwritable(
        self, sandbox: str, kind: str, doc_id: str, if_match: str
    ) -> web.Response | None:
        """Why a PATCH cannot be applied now: a stale If-Match, an operation still running, or
        a flow whose destination rejects changes (the ``fail_patch_where`` fault)."""
        doc = self.store.writable(sandbox, kind, doc_id)
        if not self._etag_matches(if_match, doc["etag"]):
            return errors.version_mismatch(if_match, doc["etag"], doc_id)
        if self.store.busy(sandbox, kind, doc_id):
            message = "The current state updating cannot be transitioned."
            return errors.bad_request(1421, "Invalid state transition", message)
        if self.faults.refuses_patch(doc):
            return errors.bad_request(1460, "Update rejected", REFUSED.format(doc_id))
        return None

    async def flow_action(self, request: web.Request) -> web.Response:
        """``POST /flows/{id}/action?op=enable|disable``; If-Match is checked when present."""
        doc_id, sandbox = request.match_info["id"], request[SANDBOX]
        doc = self.store.get(sandbox, "flows", doc_id)
        if doc is None:
            return errors.not_found("flows", doc_id)
        op = request.query.get("op", "").lower()
        if op not in ("enable", "disable"):
            message = f"The action '{request.query.get('op', '')}' is not supported."
            return errors.bad_request(1422, "Invalid action", message)
        if_match = request.headers.get("If-Match")
        if if_match is not None and not self._etag_matches(if_match, doc["etag"]):
            return errors.version_mismatch(if_match, doc["etag"], doc_id)
        state = "enabled" if op == "enable" else "disabled"
        etag = self.store.set_state(sandbox, doc_id, state, request[CLIENT])
        return errors.json_response({"id": doc_id, "etag": etag})

    async def test_connection(self, request: web.Request) -> web.Response:
        """``GET /connections/{id}/test``: ``{"result": true|false}`` (TestConnectionResponse)."""
        doc_id, sandbox = request.match_info["id"], request[SANDBOX]
        if self.store.get(sandbox, "connections", doc_id) is None:
            return errors.not_found("connections", doc_id)
        return errors.json_response({"result": self.credentials_ok(sandbox, doc_id)})

    def credentials_ok(self, sandbox: str, doc_id: str) -> bool:
        """Whether the connection's current credentials pass its test (the reject faults)."""
        doc = self.store.get(sandbox, "connections", doc_id)
        auth = doc.get("auth") if doc is not None else None
        params = auth.get("params") if isinstance(auth, dict) else None
        return not self.faults.rejects_credentials(doc_id, params)

    async def list_docs(self, request: web.Request) -> web.Response:
        """``GET /{kind}`` with ``property``, ``limit``, ``orderby``, ``count``, paging."""
        kind, sandbox = request.match_info["kind"], request[SANDBOX]
        try:
            query = list_query(request.query)
            filters = [parse_filter(text, KNOWN_FIELDS[kind]) for text in query["property"]]
        except QueryError as exc:
            return errors.bad_request(exc.code, "Invalid query", str(exc))

        def serve(doc: dict[str, Any]) -> dict[str, Any]:
            self._maybe_rival(sandbox, kind, doc["id"])
            return self._served(doc)

        return _page(kind, query, await self._select(sandbox, kind, filters), serve)

    async def list_runs(self, request: web.Request) -> web.Response:
        """``GET /runs``: flow runs (:mod:`bulkflow.sim.runs`), listed like the documents; a
        listing reads as of its first page, so its pages neither repeat nor miss a run."""
        try:
            query = list_query(request.query)
            filters = [parse_filter(text, RUN_FIELDS) for text in query["property"]]
        except QueryError as exc:
            return errors.bad_request(exc.code, "Invalid query", str(exc))
        if not isinstance(query.get("asOf"), int):
            query["asOf"] = now_ms()
        flows = next((f.values for f in filters if f.path == ("flowId",) and f.op == "=="), None)
        runs = self.runs.of_flows(request[SANDBOX], flows, query["asOf"])
        selected = [run for run in runs if all(f.matches(run) for f in filters)]
        return _page("runs", query, selected, lambda run: run)

    async def _select(self, sandbox: str, kind: str, filters: list[Filter]) -> list[dict[str, Any]]:
        ids = id_candidates(filters)
        if ids:
            candidates: Any = []
            for n, doc_id in enumerate(dict.fromkeys(ids), 1):
                doc = self.store.get(sandbox, kind, doc_id)
                if doc is not None:
                    candidates.append(doc)
                if n % BUILD_BETWEEN_YIELDS == 0:
                    # Building 100 on-demand documents took 10–25 ms in one piece, during which
                    # no other request's latency wait could end: let them run in between.
                    await asyncio.sleep(0)
        else:
            candidates = self.store.docs(sandbox, kind).values()
        return [doc for doc in candidates if all(f.matches(doc) for f in filters)]

    def _maybe_rival(self, sandbox: str, kind: str, doc_id: str) -> None:
        if self.faults.rival(doc_id):
            self.rival_pending.add((sandbox, kind, doc_id))

    def _served(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The document as answered: a flow (it links its ``runs``) with its latest run, and
        without ``etag`` and ``version`` under that fault."""
        if "runs" in doc:
            self.runs.annotate(doc)
        if not self.faults.strip_etag():
            return doc
        return {key: value for key, value in doc.items() if key not in ("etag", "version")}

    def _etag_matches(self, supplied: str, current: str) -> bool:
        if self.config.strict_etag:
            return supplied == current
        return _bare(supplied) == _bare(current)

    def _write_answer(self, doc_id: str, etag: str) -> web.Response:
        if self.config.patch_status == 202:
            return web.Response(status=202)
        return errors.json_response({"id": doc_id, "etag": etag})

    async def sim_stats(self, request: web.Request) -> web.Response:
        """``GET /_sim/stats``: counters for a client in another process."""
        _loopback_only(request)
        body = self.stats.as_dict() | {
            "tokens_issued": self.tokens.issued,
            "rival_writes": len(self.store.rival_writes),
            "latency_wakeups": self.deadlines.wakeups,
            "latency_mean_lateness_ms": round(self.deadlines.mean_lateness_ms, 3),
        }
        return errors.json_response(body)

    async def sim_reset(self, request: web.Request) -> web.Response:
        """``POST /_sim/reset``: zero the counters (documents stay)."""
        _loopback_only(request)
        self.stats.reset()
        return errors.json_response({"reset": True})

    async def sim_doc(self, request: web.Request) -> web.Response:
        """``GET /_sim/docs/{kind}/{id}[?sandbox=]``: a document without auth or faults."""
        _loopback_only(request)
        sandbox = request.query.get("sandbox", self.config.sandbox)
        doc = self.store.get(sandbox, request.match_info["kind"], request.match_info["id"])
        if doc is None:
            raise web.HTTPNotFound()
        return errors.json_response(doc)


def _page(
    path: str,
    query: dict[str, Any],
    docs: list[dict[str, Any]],
    serve: Callable[[dict[str, Any]], dict[str, Any]],
) -> web.Response:
    """One page of a listing (or its count), with the next page's link."""
    if query["count"]:
        return errors.json_response({"count": len(docs)})
    docs.sort(key=sort_key(tuple(query["orderby"])))
    offset, limit = query["offset"], query["limit"]
    body: dict[str, Any] = {"items": [serve(doc) for doc in docs[offset : offset + limit]]}
    body["_links"] = {}
    if offset + limit < len(docs):
        token = encode_token(query | {"offset": offset + limit})
        body["_links"] = {"next": {"href": f"/{path}?continuationToken={token}"}}
    return errors.json_response(body)


def _bare(etag: str) -> str:
    return etag.strip().removeprefix("W/").strip('"')


def _loopback_only(request: web.Request) -> None:
    if request.remote not in LOOPBACK:
        raise web.HTTPForbidden()
