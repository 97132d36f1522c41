"""A run's identity: where it went and who ran it (the run header, the summary, the report).

No secret is among it (the org id is not one); a user name or password written into
``AEP_BASE_URL`` is left out, and every value is masked as all output is.
"""

from __future__ import annotations

import getpass
import os
import socket
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bulkflow.flowservice.settings import Settings
from bulkflow.job.prepare import PreparedJob
from bulkflow.secrets import REGISTRY


def identity(settings: Settings, job: PreparedJob | None = None) -> dict[str, Any]:
    """Where a run goes and who runs it, for the run header, the report and the summary.

    No secret is among them (the org id is not one); a user name or password written into
    ``AEP_BASE_URL`` is left out, and every value is masked as all output is.
    """
    return {
        "base_url": REGISTRY.text(public_url(settings.base_url)),
        "sandbox": _masked(_sandboxes(settings, job)),
        "sandboxes": None
        if job is None or job.sandbox_order is None
        else [REGISTRY.text(s) for s in job.sandbox_order],
        "org_id": None if settings.org_id is None else REGISTRY.text(settings.org_id),
        "operator": REGISTRY.text(operator()),
    }


def _masked(text: str | None) -> str | None:
    return None if text is None else REGISTRY.text(text)


def _sandboxes(settings: Settings, job: PreparedJob | None) -> str | None:
    """The sandbox a run goes to (the job's own, else the environment's); None when it goes
    to several (the header's ``sandboxes`` names them)."""
    if job is not None and job.sandbox_order is not None:
        return None
    return (job.job.sandbox if job is not None else None) or settings.sandbox


def public_url(url: str) -> str:
    """``url`` without user information, query or fragment (they may carry credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def operator() -> str:
    """``user@host`` of whoever runs this process (the uid when it has no user name)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a container's uid without a passwd entry
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"
