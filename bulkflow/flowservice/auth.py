"""Bearer tokens: a fixed ``AEP_ACCESS_TOKEN``, or IMS OAuth server-to-server, shared by workers.

One token is fetched with the client credentials and shared by every worker: concurrent
callers wait on a single fetch. It is cached until shortly before ``expires_in`` (the margin
shrinks for short-lived tokens) and refreshed once when a request gets 401.

What IMS answers is checked before it is used: an ``expires_in`` that is not a positive
number counts as :data:`DEFAULT_LIFETIME_S` (the token may still be good; renewing early costs
one request), one over a day as a day; a token that is empty or holds anything but printable
ASCII without spaces (it goes into the ``Authorization`` header) is an :class:`AuthError`.
"""

from __future__ import annotations

import math
import re
import ssl
import time
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp
import anyio
import orjson
from pydantic import SecretStr

from bulkflow.errors import AuthError, InputError
from bulkflow.flowservice.settings import Settings
from bulkflow.flowservice.transport import (
    ERROR_BODY_LIMIT_BYTES,
    read_prefix,
    redirect_refusal,
    transport_failure,
)
from bulkflow.runconfig import DEFAULT_TIMEOUT_S
from bulkflow.secrets import REGISTRY

DEFAULT_LIFETIME_S = 300.0
MAX_LIFETIME_S = 86400.0
HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # visible ASCII: no space, control or line break


class TokenSource(Protocol):
    """What the client needs from an identity provider."""

    async def token(self) -> str:
        """A bearer token that is believed valid."""

    async def refresh(self, stale: str) -> str:
        """A new token, because ``stale`` was refused with 401."""


class StaticToken:
    """``AEP_ACCESS_TOKEN``: used as given; a 401 cannot be repaired."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    async def token(self) -> str:
        """The fixed token."""
        return self._token.get_secret_value()

    async def refresh(self, stale: str) -> str:
        """There is nothing to refresh a fixed token with."""
        raise AuthError("the access token was refused (401) and AEP_ACCESS_TOKEN cannot be renewed")


class ImsTokens:
    """Client-credentials tokens from IMS, cached and shared."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if not settings.client_id or settings.client_secret is None:
            raise InputError(
                "AEP_CLIENT_ID and AEP_CLIENT_SECRET are needed to get a token from IMS"
            )
        self._session = session
        self._settings = settings
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._lock = anyio.Lock()
        self._token: SecretStr | None = None
        self._renew_at = 0.0
        self.fetches = 0

    async def token(self) -> str:
        """The cached token, fetching one if there is none or it is about to expire."""
        if self._token is not None and self._clock() < self._renew_at:
            return self._token.get_secret_value()
        async with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                await self._fetch()
            assert self._token is not None
            return self._token.get_secret_value()

    async def refresh(self, stale: str) -> str:
        """Fetch a new token unless another worker already replaced ``stale``."""
        async with self._lock:
            if self._token is None or self._token.get_secret_value() == stale:
                await self._fetch()
            assert self._token is not None
            return self._token.get_secret_value()

    async def _fetch(self) -> None:
        settings = self._settings
        assert settings.client_id is not None
        assert settings.client_secret is not None
        form = {
            "grant_type": "client_credentials",
            "client_id": settings.client_id,
            "client_secret": settings.client_secret.get_secret_value(),
            "scope": settings.scopes,
        }
        status, body = await self._post(form)
        if status != 200 or not isinstance(body, dict) or "access_token" not in body:
            reason = (
                body.get("error_description") or body.get("error")
                if isinstance(body, dict)
                else None
            )
            # IMS may quote the form it was sent, and the client secret may not be registered yet.
            hidden = REGISTRY.also(settings.client_secret.get_secret_value())
            said = hidden.cut(str(reason or "no reason given"), 300)
            raise AuthError(f"IMS refused the client credentials ({status}: {said})")
        lifetime = _lifetime_s(body.get("expires_in", 86399))
        self._token = SecretStr(_header_safe(body["access_token"]))
        REGISTRY.add(self._token.get_secret_value())
        self._renew_at = self._clock() + lifetime - min(300.0, lifetime * 0.1)
        self.fetches += 1

    async def _post(self, form: dict[str, str]) -> tuple[int, Any]:
        """IMS's status and decoded body; redirects, bad bodies and no connection: AuthError."""
        url = self._settings.ims_url
        try:
            async with self._session.post(
                url, data=form, timeout=self._timeout, allow_redirects=False
            ) as resp:
                status, location = resp.status, resp.headers.get("Location")
                raw = await read_prefix(resp, ERROR_BODY_LIMIT_BYTES)
        except (TimeoutError, aiohttp.ClientError, ssl.SSLError) as exc:
            failure = transport_failure(exc, "POST", url)
            raise AuthError(f"cannot get a token from IMS: {failure.message}") from None
        if 300 <= status < 400:
            # Following would hand the client secret to wherever Location points.
            raise AuthError(f"IMS token request: {redirect_refusal('POST', status, location, url)}")
        try:
            return status, orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError:
            raise AuthError(f"IMS answered {status} with a body that is not JSON") from None


def _lifetime_s(expires_in: Any) -> float:
    """``expires_in`` as seconds: a positive number up to a day; anything else a short while."""
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
        return DEFAULT_LIFETIME_S
    if not math.isfinite(expires_in) or expires_in <= 0:
        return DEFAULT_LIFETIME_S
    return float(min(expires_in, MAX_LIFETIME_S))


def _header_safe(token: Any) -> str:
    """The token, if it can go into a header as it is (the message never quotes it)."""
    if isinstance(token, str) and HEADER_SAFE.fullmatch(token):
        return token
    raise AuthError("IMS answered a token that cannot be sent in a header")


def token_source(
    session: aiohttp.ClientSession, settings: Settings, timeout_s: float
) -> TokenSource:
    """``AEP_ACCESS_TOKEN`` as given, else IMS with the client credentials."""
    if settings.access_token is not None:
        return StaticToken(settings.access_token)
    if not settings.client_id or not settings.org_id:
        raise InputError(
            "AEP_CLIENT_ID and AEP_ORG_ID must be set (or use --sim to try a job locally)"
        )
    return ImsTokens(session, settings, timeout_s=timeout_s)
