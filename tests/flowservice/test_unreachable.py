"""A service that cannot be reached fails fast, and the error names host, port and cause."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from bulkflow.errors import AuthError, RetryableError, UnreachableError
from bulkflow.flowservice.auth import ImsTokens
from bulkflow.flowservice.client import FlowClient
from bulkflow.flowservice.retry import RetryPolicy, with_retries
from tests.hostile import closed_port, hostile_server, settings_for, static_token

FLOW = "226fb2e1-db69-4760-b67e-9e671e05abfc"
PATH = "/data/foundation/flowservice"


def client_at(session: aiohttp.ClientSession, base_url: str, **policy: float) -> FlowClient:
    """A client of ``base_url`` with the default retry policy unless told otherwise."""
    return FlowClient(
        session, settings_for(base_url), static_token(), "prod", RetryPolicy(**policy)
    )


@pytest.mark.timeout(5)
async def test_closed_port_is_unreachable_naming_host_port_and_refusal(
    session: aiohttp.ClientSession,
) -> None:
    """Nothing listens: UnreachableError naming 127.0.0.1, the port and "refused", within seconds."""
    port = closed_port()
    with pytest.raises(UnreachableError) as caught:
        await client_at(session, f"http://127.0.0.1:{port}{PATH}").get("flows", FLOW)
    assert caught.value.message == f"cannot connect to 127.0.0.1:{port} (connection refused)"
    assert (caught.value.host, caught.value.port, caught.value.kind) == (
        "127.0.0.1",
        port,
        "transport",
    )


async def test_unreachable_message_holds_no_path_or_query(session: aiohttp.ClientSession) -> None:
    """The message names the origin only: no path, no query string."""
    port = closed_port()
    client = client_at(session, f"http://127.0.0.1:{port}{PATH}", unreachable_attempts=1)
    with pytest.raises(UnreachableError) as caught:
        await client.list_page("flows", [("property", "id==secret-ish")])
    assert "flowservice" not in caught.value.message
    assert "secret-ish" not in caught.value.message


class _NoSuchHost(AbstractResolver):
    """A resolver that knows no host, as DNS answers for a mistyped name."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        raise OSError(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        """Nothing to release."""


async def test_unknown_host_is_unreachable_naming_host_and_dns() -> None:
    """A name that does not resolve: "cannot resolve host NAME (DNS: …)", no request made."""
    connector = aiohttp.TCPConnector(resolver=_NoSuchHost())
    async with aiohttp.ClientSession(connector=connector) as session:
        client = client_at(session, f"https://platform.example{PATH}", unreachable_attempts=1)
        with pytest.raises(UnreachableError) as caught:
            await client.get("flows", FLOW)
    assert caught.value.message == (
        "cannot resolve host platform.example (DNS: Name or service not known)"
    )
    assert caught.value.host == "platform.example"


async def test_tls_failure_is_unreachable_naming_host_port_and_tls(
    session: aiohttp.ClientSession,
) -> None:
    """https to a server that speaks plain http: "TLS handshake with HOST:PORT failed: …"."""
    async with hostile_server() as server:
        client = client_at(
            session, f"https://127.0.0.1:{server.port}{PATH}", unreachable_attempts=1
        )
        with pytest.raises(UnreachableError) as caught:
            await client.get("flows", FLOW)
    assert caught.value.message.startswith(f"TLS handshake with 127.0.0.1:{server.port} failed: ")


def self_signed(folder: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1 (openssl CLI)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def test_untrusted_certificate_is_unreachable_naming_the_verify_failure(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A self-signed certificate: "TLS handshake with HOST:PORT failed: certificate verify failed…"."""
    async with hostile_server(tls=self_signed(tmp_path)) as server:
        client = client_at(
            session, f"https://127.0.0.1:{server.port}{PATH}", unreachable_attempts=1
        )
        with pytest.raises(UnreachableError) as caught:
            await client.get("flows", FLOW)
        assert server.seen == []
    assert caught.value.message.startswith(
        f"TLS handshake with 127.0.0.1:{server.port} failed: certificate verify failed"
    )


async def test_dropped_connection_is_retryable_naming_host_port(
    session: aiohttp.ClientSession,
) -> None:
    """A connection closed without an answer stays a plain RetryableError, naming host:port."""

    async def drop(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    async with hostile_server(drop) as server:
        client = client_at(session, server.base_url, max_attempts=1)
        with pytest.raises(RetryableError) as caught:
            await client.get("flows", FLOW)
    assert not isinstance(caught.value, UnreachableError)
    assert caught.value.kind == "transport"
    assert f"127.0.0.1:{server.port}" in caught.value.message


async def test_unreachable_is_retried_only_briefly() -> None:
    """UnreachableError gets ``unreachable_attempts`` tries in all, well under a second of waits."""
    calls: list[int] = []
    waits: list[float] = []

    async def refused() -> None:
        calls.append(1)
        raise UnreachableError("cannot connect to 127.0.0.1:9 (connection refused)", "127.0.0.1", 9)

    policy = RetryPolicy(max_attempts=7, unreachable_attempts=3, unreachable_backoff_s=0.05)
    with pytest.raises(UnreachableError):
        await with_retries(refused, policy, lambda exc, wait: waits.append(wait))
    assert len(calls) == 3
    assert sum(waits) <= 0.05 + 0.1


def test_default_policy_retries_unreachable_within_a_second() -> None:
    """By default at most two retries of an unreachable service, with at most ~1 s of waiting."""
    policy = RetryPolicy()
    assert policy.unreachable_attempts == 3
    assert policy.unreachable_backoff_s * (1 + 2) <= 1.0


async def test_ims_unreachable_is_auth_error_naming_host_port_and_cause(
    session: aiohttp.ClientSession,
) -> None:
    """The token endpoint refuses connections: AuthError naming 127.0.0.1:PORT and "refused"."""
    port = closed_port()
    settings = settings_for(
        f"http://127.0.0.1:{port}{PATH}",
        ims_url=f"http://127.0.0.1:{port}/ims/token/v3",
        client_secret="s3cr3t-value",
    )
    with pytest.raises(AuthError) as caught:
        await ImsTokens(session, settings).token()
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "refused" in str(caught.value)
    assert "/ims/token/v3" not in str(caught.value)
