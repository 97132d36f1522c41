"""The Flow Service HTTP client: headers, auth, one exchange, error mapping, retries.

Layers, one concern each: :meth:`FlowClient.get`/``patch``/``list_page`` → ``_call`` (one
token refresh on 401) → :func:`bulkflow.flowservice.retry.with_retries` (429, 5xx, transport) →
``_exchange`` (one HTTP request, aiohttp's exceptions and error statuses translated here).

Only what Flow Service serves is taken as an answer (see :mod:`bulkflow.flowservice.transport` for
redirects, body caps and unreachable hosts): a 2xx whose body is not JSON or is nested too
deep, a GET without the document, a list page that is not an object, a list whose next link
never ends (:mod:`bulkflow.flowservice.paging`), or a document without a usable etag fails the
target with kind ``invalid_response``. A write is never sent without the etag the service
served as ``If-Match``; a listed document without one is left for a single GET to judge.
"""

from __future__ import annotations

import contextlib
import copy
import ssl
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
import structlog
from yarl import URL

from bulkflow.diagnostics import debug_enabled
from bulkflow.errors import (
    ApiError,
    AuthError,
    ConflictError,
    InvalidResponseError,
    RetryableError,
    UnauthorizedError,
)
from bulkflow.flowservice.auth import TokenSource
from bulkflow.flowservice.pacing import Pacer
from bulkflow.flowservice.paging import BATCH_MAX_PAGES, MAX_PAGES, Pages, continuation_token
from bulkflow.flowservice.ratefinder import Ticket
from bulkflow.flowservice.retry import RetryPolicy, parse_retry_after, with_retries
from bulkflow.flowservice.settings import Settings
from bulkflow.flowservice.transport import (
    BODY_LIMIT_BYTES,
    ERROR_BODY_LIMIT_BYTES,
    MAX_DEPTH,
    MiB,
    read_body,
    read_prefix,
    redirect_refusal,
    transport_failure,
    within_depth,
)
from bulkflow.runconfig import DEFAULT_TIMEOUT_S
from bulkflow.secrets import REGISTRY

Doc = dict[str, Any]
log = structlog.get_logger("bulkflow.flowservice.client")
MAX_PAGE = 100  # the list endpoints' largest limit, and the most ids one id==a,b,… request takes
# FLOW-1420/1421/1422-400: "the current state … cannot be transitioned" (updating, disabling…).
BUSY_CODES = frozenset({"1420", "1421", "1422"})
MESSAGE_FIELDS = ("errorMessage", "detail", "message", "error_description", "title", "error")


@dataclass(frozen=True)
class Response:
    """A successful answer: status and decoded JSON body (None when empty)."""

    status: int
    body: Any


class FlowClient:
    """Calls to one Flow Service sandbox, sharing one aiohttp session and one token source."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: Settings,
        tokens: TokenSource,
        sandbox: str,
        policy: RetryPolicy | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        on_retry: Callable[[RetryableError, float], None] | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self._session = session
        self._base = settings.base_url.rstrip("/")
        self._static_headers = {
            "x-api-key": settings.client_id or "",
            "x-gw-ims-org-id": settings.org_id or "",
            "x-sandbox-name": sandbox,
            "Accept": "application/json",
        }
        self.sandbox = sandbox
        self._tokens = tokens
        self._policy = policy or RetryPolicy()
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._on_retry = on_retry
        self._pacer = pacer

    def in_sandbox(self, sandbox: str) -> FlowClient:
        """The same client (session, token, pacing, retries) for another sandbox."""
        other = copy.copy(self)
        other.sandbox = sandbox
        other._static_headers = self._static_headers | {"x-sandbox-name": sandbox}
        return other

    async def get(self, kind: str, resource_id: str) -> tuple[Doc, str]:
        """The document and its etag (``GET /{kind}/{id}`` answers ``{"items": [doc]}``)."""
        response = await self._call(
            "GET", f"/{kind}/{quote(resource_id, safe='')}", target=resource_id
        )
        items = response.body.get("items") if isinstance(response.body, dict) else None
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            raise InvalidResponseError(
                f"GET answered {response.status} without the document", response.status
            )
        doc: Doc = items[0]
        return doc, _served_etag(doc, f"GET /{kind}/{resource_id}")

    async def get_many(self, kind: str, resource_ids: list[str]) -> dict[str, tuple[Doc, str]]:
        """Up to 100 documents in one request, by ``property=id==a,b,c``; missing ids are absent.

        A listed document without a usable etag is left out too: the caller fetches it alone,
        and that GET fails it as ``invalid_response`` if the etag is still missing.
        """
        params = [("property", "id==" + ",".join(resource_ids)), ("limit", str(len(resource_ids)))]
        wanted = set(resource_ids)
        found: dict[str, tuple[Doc, str]] = {}
        async for doc in self.list_all(kind, params, max_pages=BATCH_MAX_PAGES):
            doc_id, etag = doc.get("id"), _usable_etag(doc)
            if isinstance(doc_id, str) and doc_id in wanted and etag is not None:
                found[doc_id] = (doc, etag)
        return found

    async def patch(self, kind: str, resource_id: str, ops: list[Doc], etag: str) -> str | None:
        """Send ``ops`` with ``If-Match: etag`` exactly as served; the new etag, or None on 202."""
        _require_etag(etag, f"PATCH /{kind}/{resource_id}")
        headers = {"If-Match": etag, "Content-Type": "application/json"}
        path = f"/{kind}/{quote(resource_id, safe='')}"
        response = await self._call("PATCH", path, headers, orjson.dumps(ops), target=resource_id)
        return _usable_etag(response.body) if isinstance(response.body, dict) else None

    async def action(self, resource_id: str, op: str, etag: str | None = None) -> str | None:
        """``POST /flows/{id}/action?op=enable|disable`` with ``If-Match``; the new etag.

        Without an etag (a PATCH before it answered 202) nothing is sent: the target fails,
        and ``bulkflow retry`` reads the flow again and sends the action with its etag.
        """
        if_match = _require_etag(etag, f"POST /flows/{resource_id}/action?op={op}")
        path = f"/flows/{quote(resource_id, safe='')}/action?op={op}"
        response = await self._call("POST", path, {"If-Match": if_match}, target=resource_id)
        return _usable_etag(response.body) if isinstance(response.body, dict) else None

    async def test_connection(self, connection_id: str) -> bool:
        """``GET /connections/{id}/test``: whether the service accepts the connection's credentials.

        Its answer is ``{"result": true|false}``; anything else is ``invalid_response``.
        """
        path = f"/connections/{quote(connection_id, safe='')}/test"
        response = await self._call("GET", path, target=connection_id)
        result = response.body.get("result") if isinstance(response.body, dict) else None
        if not isinstance(result, bool):
            raise InvalidResponseError(
                f"GET {path} answered {response.status} without a true or false result",
                response.status,
            )
        return result

    async def list_page(self, kind: str, params: list[tuple[str, str]]) -> Doc:
        """One page of ``GET /{kind}``; follow ``_links.next.href`` for the next."""
        response = await self._call("GET", f"/{kind}", params=params)
        body = response.body
        if not isinstance(body, dict):
            raise InvalidResponseError(
                f"GET /{kind} answered {response.status} with a list page that is not a JSON object",
                response.status,
            )
        if not isinstance(body.get("items", []), list):
            raise InvalidResponseError(
                f"GET /{kind} answered {response.status} with items that are not a list",
                response.status,
            )
        page: Doc = body
        return page

    async def list_all(
        self, kind: str, params: list[tuple[str, str]], max_pages: int = MAX_PAGES
    ) -> AsyncGenerator[Doc]:
        """Every item of ``GET /{kind}``, page after page (``_links.next.href``).

        A next link that never ends fails as ``invalid_response``: see :class:`Pages`.
        """
        pages = Pages(f"GET /{kind}", max_pages)
        page = await self.list_page(kind, params)
        while True:
            items = page.get("items") or ()
            for doc in items:
                if isinstance(doc, dict):
                    yield doc
            token = continuation_token(page)
            if token is None:
                return
            pages.follow(token, bool(items))
            page = await self.list_page(kind, [("continuationToken", token)])

    async def _call(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        params: list[tuple[str, str]] | None = None,
        target: str | None = None,
    ) -> Response:
        token = await self._tokens.token()
        for refreshed in (False, True):

            async def once(token: str = token) -> Response:
                return await self._exchange(method, path, token, headers, data, params)

            try:
                return await with_retries(
                    once, self._policy, self._on_retry, self._pacer, target=target
                )
            except UnauthorizedError:
                if refreshed:
                    raise
                token = await self._refresh(token)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _refresh(self, stale: str) -> str:
        try:
            return await self._tokens.refresh(stale)
        except AuthError as exc:
            raise UnauthorizedError(f"401, and no new token: {exc}", 401) from None

    async def _exchange(
        self,
        method: str,
        path: str,
        token: str,
        headers: dict[str, str] | None,
        data: bytes | None,
        params: list[tuple[str, str]] | None,
    ) -> Response:
        all_headers = {
            **self._static_headers,
            "Authorization": f"Bearer {token}",
            **(headers or {}),
        }
        if debug_enabled():
            log.debug("http.request", method=method, url=self._base + path, headers=all_headers)
        try:
            async with self._paced() as ticket:
                status, answer, raw = await self._send(method, path, all_headers, data, params)
        except (TimeoutError, aiohttp.ClientError, ssl.SSLError) as exc:
            raise transport_failure(exc, method, self._base) from None
        if self._pacer is not None and ticket is not None:
            self._pacer.answered(status, ticket)
        if raw is None:
            limit_mib = BODY_LIMIT_BYTES // MiB
            raise InvalidResponseError(
                f"{method} answered {status} with a body over {limit_mib} MiB; not read", status
            )
        if debug_enabled():
            # Success bodies are never logged: a connection's carries its credentials.
            body = None if 200 <= status < 300 else REGISTRY.cut(raw.decode(errors="replace"), 2000)
            log.debug("http.response", method=method, path=path, status=status, error_body=body)
        if 200 <= status < 300:
            return Response(status, _success_body(method, status, raw))
        raise self._error(method, status, raw, answer)

    def _paced(self) -> AbstractAsyncContextManager[Ticket | None]:
        return self._pacer.request() if self._pacer is not None else contextlib.nullcontext()

    async def _send(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        data: bytes | None,
        params: list[tuple[str, str]] | None,
    ) -> tuple[int, Mapping[str, str], bytes | None]:
        """Status, headers and body (None: a success body over the cap, left unread)."""
        async with self._session.request(
            method,
            URL(self._base + path, encoded=True),  # ids are quoted already; skip re-parsing
            headers=headers,
            data=data,
            params=params,
            timeout=self._timeout,
            allow_redirects=False,  # a 3xx is an answer to report, never a place to go
        ) as resp:
            if 200 <= resp.status < 300:
                return resp.status, resp.headers, await read_body(resp, BODY_LIMIT_BYTES)
            return resp.status, resp.headers, await read_prefix(resp, ERROR_BODY_LIMIT_BYTES)

    def _error(self, method: str, status: int, raw: bytes, answer: Mapping[str, str]) -> ApiError:
        if 300 <= status < 400:
            location = answer.get("Location")
            return ApiError(redirect_refusal(method, status, location, self._base), status)
        message = f"{method} {status}: {_message(raw)}"
        if status == 401:
            return UnauthorizedError(message, status)
        if status == 404:
            return ApiError(message, status, "not_found")
        if status == 412:
            return ConflictError(message, status)
        if status == 400 and _flow_code(raw) in BUSY_CODES:
            # The resource is still applying an earlier operation: wait and send again.
            return RetryableError(message, status, "http")
        if status == 429 or status >= 500:
            return self._retryable(message, status, answer.get("Retry-After"))
        return ApiError(message, status)

    def _retryable(self, message: str, status: int, retry_after: str | None) -> ApiError:
        """429 or 5xx: retried after ``Retry-After``, unless it asks longer than the cap."""
        wait = parse_retry_after(retry_after)
        if wait is not None and wait > self._policy.max_retry_after_s:
            cap = self._policy.max_retry_after_s
            return ApiError(
                f"{message} (Retry-After {wait:.0f}s exceeds the {cap:.0f}s cap)", status
            )
        return RetryableError(message, status, "http", wait)


def _decode(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _message(raw: bytes) -> str:
    """The service's own words for an error, from whichever field its envelope uses."""
    body = _decode(raw)
    if isinstance(body, dict):
        for key in MESSAGE_FIELDS:
            if isinstance(body.get(key), str) and body[key]:
                return REGISTRY.text(str(body[key]))
    # Masked before the cut: cut first, a secret across the cut would leave its first part.
    return REGISTRY.cut(raw.decode("utf-8", errors="replace").strip(), 300) or "no message"


def _success_body(method: str, status: int, raw: bytes) -> Any:
    """A 2xx body as JSON (None when empty); anything else is not Flow Service's answer."""
    if not raw.strip():
        return None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidResponseError(
            f"{method} answered {status} with a body that is not JSON", status
        ) from None
    if not within_depth(body):
        raise InvalidResponseError(
            f"{method} answered {status} with JSON nested more than {MAX_DEPTH} levels deep", status
        )
    return body


def _usable_etag(doc: Doc) -> str | None:
    """A document's etag (``version`` holds the same value), if it can be sent as If-Match."""
    etag = doc.get("etag") or doc.get("version")
    # Printable ASCII only: a CR/LF would otherwise reach a request header.
    if isinstance(etag, str) and etag.strip() and etag.isascii() and etag.isprintable():
        return etag
    return None


def _served_etag(doc: Doc, what: str) -> str:
    """The etag to write with; a document without a usable one fails the target."""
    etag = _usable_etag(doc)
    if etag is not None:
        return etag
    if doc.get("etag") or doc.get("version"):
        raise InvalidResponseError(
            f"{what} served an etag that cannot be sent as If-Match; not sending a PATCH"
        )
    raise InvalidResponseError(
        f"{what} served the document without an etag; not sending a PATCH without If-Match"
    )


def _require_etag(etag: str | None, what: str) -> str:
    """A write goes out with the etag the service served, or not at all."""
    if not etag:
        raise InvalidResponseError(f"{what}: no etag to send as If-Match; not sent")
    return etag


def _flow_code(raw: bytes) -> str | None:
    """The code of a FLOW error envelope (``…/FLOW-1421-400`` → ``1421``)."""
    body = _decode(raw)
    kind = body.get("type") if isinstance(body, dict) else None
    if not isinstance(kind, str) or "/FLOW-" not in kind:
        return None
    return kind.rsplit("/FLOW-", 1)[1].split("-", 1)[0]
