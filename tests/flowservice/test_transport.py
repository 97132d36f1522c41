"""Transport safety: TLS verification is never turned off; plain http only to loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkflow.errors import InputError
from bulkflow.flowservice.settings import Settings, check_transport

PACKAGE = Path(__file__).resolve().parents[2] / "bulkflow"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "127.0.0.9"])
def test_http_to_loopback_is_allowed(host: str) -> None:
    """The simulator and local tunnels are loopback: plain http is fine there."""
    check_transport(Settings(base_url=f"http://{host}:8080/x", ims_url=f"http://{host}:8080/ims"))


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1/x", "http://platform.adobe.io/x", "ftp://127.0.0.1/x"]
)
def test_http_elsewhere_is_refused_with_reason(url: str) -> None:
    """Anything else must be https, and the message says why."""
    with pytest.raises(InputError, match="https"):
        check_transport(Settings(base_url=url))


def test_tls_verification_is_never_disabled() -> None:
    """No client code turns certificate checks off."""
    for path in PACKAGE.rglob("*.py"):
        if "sim" in path.parts:
            continue
        text = path.read_text()
        for needle in ("ssl=False", "verify_ssl", "CERT_NONE", "check_hostname = False"):
            assert needle not in text, f"{path.name} disables TLS verification"
