"""aiohttp at the edge, for the Flow Service client and the IMS token fetch alike.

- Redirects are never followed (``allow_redirects=False`` on every request): a 3xx is named by
  its status and the *origin* its ``Location`` points at, never the full URL (its query could
  carry anything), and fails.
- Bodies are read up to a cap, so a hostile server cannot exhaust memory: a success body up to
  :data:`BODY_LIMIT_BYTES` (32 MiB, far above a 100-document list page), an error body only its
  first :data:`ERROR_BODY_LIMIT_BYTES` (64 KiB, enough for any error message).
- A body nested more than :data:`MAX_DEPTH` levels is refused by the client
  (:func:`within_depth`): orjson could not write it back into a plan or a log.
- A connection that cannot be made (refused, DNS, TLS, connect timeout) becomes
  :class:`UnreachableError` naming host, port and cause; never a path, query or header.
"""

from __future__ import annotations

import os
import ssl
from typing import Any

import aiohttp
import orjson
from yarl import URL

from bulkflow.errors import RetryableError, UnreachableError

MiB = 1024 * 1024
BODY_LIMIT_BYTES = 32 * MiB
ERROR_BODY_LIMIT_BYTES = 64 * 1024
# orjson writes at most 254 nested levels; Flow Service documents are about ten deep.
ORJSON_MAX_DEPTH = 254
MAX_DEPTH = 200


def origin(url: str | URL, base: str | URL | None = None) -> str | None:
    """``scheme://host:port`` of ``url`` (resolved against ``base`` when relative), or None."""
    try:
        target = URL(url)
        if not target.is_absolute() and base is not None:
            target = URL(base).join(target)
        if not target.is_absolute() or target.host is None:
            return None
        return f"{target.scheme}://{_host_port(target.host, target.port)}"
    except (ValueError, TypeError):
        return None


def redirect_refusal(what: str, status: int, location: str | None, base: str | URL) -> str:
    """Why a 3xx answer is not followed, naming where it pointed (origin only)."""
    where = origin(location, base) if location else None
    if where is None:
        return f"{what} answered {status} without a Location; redirects are not followed"
    return f"{what} answered {status} redirecting to {where}; redirects are not followed"


def transport_failure(exc: BaseException, what: str, url: str | URL) -> RetryableError:
    """An aiohttp/ssl/timeout exception of a request to ``url``, in our terms."""
    target = URL(url)
    host, port = target.host or "?", target.port
    where = _host_port(host, port)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return unreachable(exc)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return UnreachableError(f"cannot connect to {where} (connection timed out)", host, port)
    if isinstance(exc, ssl.SSLError):
        return UnreachableError(f"TLS with {where} failed: {_tls_reason(exc)}", host, port)
    if isinstance(exc, TimeoutError):
        return RetryableError(f"{what} to {where} timed out", None, "transport")
    return RetryableError(f"{what} to {where} failed: {type(exc).__name__}", None, "transport")


def unreachable(exc: aiohttp.ClientConnectorError) -> UnreachableError:
    """A connection that could not be made, by cause: DNS, TLS, or the socket's own error."""
    host, port = exc.host, exc.port
    where = _host_port(host, port)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        message = f"cannot resolve host {host} (DNS: {exc.os_error.strerror or 'no address'})"
    elif isinstance(exc, aiohttp.ClientConnectorCertificateError):
        message = f"TLS handshake with {where} failed: {_tls_reason(exc.certificate_error)}"
    elif isinstance(exc, aiohttp.ClientSSLError):
        message = f"TLS handshake with {where} failed: {_tls_reason(exc.os_error)}"
    else:
        message = f"cannot connect to {where} ({_socket_reason(exc.os_error)})"
    return UnreachableError(message, host, port)


async def read_body(response: aiohttp.ClientResponse, limit_bytes: int) -> bytes | None:
    """The whole body, or None when it is larger than ``limit_bytes`` (the rest is not read)."""
    declared = response.content_length
    if declared is not None and declared > limit_bytes:
        return None
    if declared is not None and "Content-Encoding" not in response.headers:
        return await response.read()  # the common case: aiohttp stops at Content-Length
    body, cut = await _read_at_most(response, limit_bytes)
    return None if cut else body


async def read_prefix(response: aiohttp.ClientResponse, limit_bytes: int) -> bytes:
    """At most the first ``limit_bytes`` of the body (an unread rest closes the connection)."""
    body, _ = await _read_at_most(response, limit_bytes)
    return body


async def _read_at_most(response: aiohttp.ClientResponse, limit_bytes: int) -> tuple[bytes, bool]:
    """Up to ``limit_bytes`` of the body, and whether there was more."""
    buffer = bytearray()
    while len(buffer) <= limit_bytes:
        chunk = await response.content.read(limit_bytes + 1 - len(buffer))
        if not chunk:
            return bytes(buffer), False
        buffer += chunk
    return bytes(buffer[:limit_bytes]), True


def within_depth(body: Any) -> bool:
    """Whether ``body`` is nested at most :data:`MAX_DEPTH` levels (a scalar is 0).

    orjson itself is the probe: its ``dumps`` refuses more than :data:`ORJSON_MAX_DEPTH`
    levels, so the body wrapped in the difference serialises only if it is shallow enough.
    Measured: 0.16 ms for a 250 KB page of 100 flows (parsing it takes 0.9 ms), 4 µs for one.
    """
    if not isinstance(body, dict | list):
        return True
    probe: Any = body
    for _ in range(ORJSON_MAX_DEPTH - MAX_DEPTH):
        probe = [probe]
    try:
        orjson.dumps(probe)
    except orjson.JSONEncodeError:
        return False
    return True


def _host_port(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port is not None else shown


def _tls_reason(error: BaseException) -> str:
    """``certificate verify failed: self-signed certificate``, ``wrong version number``…"""
    reason = getattr(error, "reason", None)
    text = reason.lower().replace("_", " ") if isinstance(reason, str) else type(error).__name__
    detail = getattr(error, "verify_message", None)
    return f"{text}: {detail}" if detail else text


def _socket_reason(error: OSError) -> str:
    """``connection refused``, ``network is unreachable``… from the OS's words.

    asyncio's own text names the address tuple (``Connect call failed ('127.0.0.1', 9)``), so
    the errno's standard wording is preferred.
    """
    if error.errno:
        return os.strerror(error.errno).lower()
    return (error.strerror or str(error) or type(error).__name__).lower()
