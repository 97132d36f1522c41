"""The simulator's IMS: OAuth server-to-server tokens, their lifetimes, and the gateway check."""

from __future__ import annotations

import secrets
import time

from aiohttp import web

from bulkflow.sim.config import SimConfig
from bulkflow.sim.errors import flow_error, gateway_error, json_response

ANY_CLIENT = ""
CLIENT = web.RequestKey("client", str)
SANDBOX = web.RequestKey("sandbox", str)


class TokenBook:
    """Tokens issued by the simulator's IMS endpoint, with their expiry and client id."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.ttl_s = config.token_ttl_s
        self._tokens: dict[str, tuple[float, str]] = {}
        self.issued = 0

    def issue(self, client_id: str) -> str:
        """A new bearer token for ``client_id`` that expires after ``ttl_s``."""
        token = "sim-" + secrets.token_urlsafe(24)
        self._tokens[token] = (time.monotonic() + self.ttl_s, client_id)
        self.issued += 1
        return token

    def revoke_all(self) -> None:
        """Invalidate every issued token, as if they all expired now."""
        self._tokens.clear()

    def client_of(self, token: str) -> str | None:
        """The client id a live token was issued to; ``ANY_CLIENT`` for the fixed token."""
        if self.config.fixed_token is not None and secrets.compare_digest(
            token, self.config.fixed_token
        ):
            return ANY_CLIENT
        entry = self._tokens.get(token)
        if entry is None:
            return None
        if time.monotonic() >= entry[0]:
            del self._tokens[token]
            return None
        return entry[1]

    async def token_endpoint(self, request: web.Request) -> web.Response:
        """``POST /ims/token/v3``: form fields in the body (or the query, as IMS allows)."""
        form = dict(request.query) | dict(await request.post())
        fields = {k: str(v) for k, v in form.items()}
        if fields.get("grant_type") != "client_credentials":
            return _ims_error(
                400, "unsupported_grant_type", "grant_type must be client_credentials"
            )
        for name in ("client_id", "client_secret", "scope"):
            if not fields.get(name):
                return _ims_error(400, "invalid_request", f"missing {name} parameter")
        if self.config.client_id is not None and fields["client_id"] != self.config.client_id:
            return _ims_error(400, "invalid_client", "invalid client_id parameter")
        secret = self.config.client_secret
        if secret is not None and not secrets.compare_digest(fields["client_secret"], secret):
            echo = f": {fields['client_secret']}" if self.config.ims_echo_secret else ""
            return _ims_error(401, "invalid_client", f"invalid client_secret parameter{echo}")
        token = self.issue(fields["client_id"])
        return json_response(
            {"access_token": token, "token_type": "bearer", "expires_in": int(self.ttl_s)}
        )

    def check_headers(self, request: web.Request) -> web.Response | None:
        """The gateway's header checks; an error response, or None when the request may pass."""
        auth = request.headers.get("Authorization")
        if not auth:
            return gateway_error(403, "403010", "Oauth token is missing.")
        scheme, _, token = auth.partition(" ")
        client = self.client_of(token.strip()) if scheme.lower() == "bearer" else None
        if client is None:
            return gateway_error(401, "401013", "Oauth token is not valid")
        api_key = request.headers.get("x-api-key")
        if not api_key:
            return gateway_error(403, "403000", "Api Key is required")
        if client != ANY_CLIENT and api_key != client:
            return gateway_error(403, "403003", "Api Key is invalid")
        if not request.headers.get("x-gw-ims-org-id"):
            return gateway_error(400, "400003", "Missing header: x-gw-ims-org-id")
        if not request.headers.get("x-sandbox-name"):
            message = "The header x-sandbox-name is missing"
            return flow_error(2105, 400, "Header is missing", message)
        request[CLIENT] = api_key
        request[SANDBOX] = request.headers["x-sandbox-name"]
        return None


def _ims_error(status: int, error: str, description: str) -> web.Response:
    return json_response({"error": error, "error_description": description}, status)
