"""Fault injection: latency, throttling, server errors, dropped connections, a rival writer,
a hostile gateway (redirects to another origin, documents without etag, non-JSON 200s), and a
bad change (PATCHes a kind of flow refuses, runs that fail after a change).

Each fault draws from its own random stream seeded from the simulator's seed, so a run is
reproducible for a given order of requests.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from dataclasses import dataclass
from typing import Any

import orjson

from bulkflow.sim.config import Faults
from bulkflow.sim.filters import parse_filter

SERVER_STATUSES = (500, 503, 504)


@dataclass(frozen=True)
class Throttle:
    """A 429 to send; ``retry_after_s`` is None when the header is to be left out."""

    retry_after_s: float | None


class FaultPlan:
    """Decides, request by request, which fault (if any) to inject."""

    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        self._seed = seed
        self._streams = {
            name: random.Random(f"{seed}:{name}")
            for name in (
                *("latency", "throttle", "error", "drop", "rival", "ignore", "echo"),
                *("redirect", "etag", "garbage"),
            )
        }
        self._bucket = faults.throttle_rps or 0.0
        self._bucket_at = time.monotonic()
        where = faults.fail_patch_where
        self._refused = parse_filter(where) if where is not None else None

    def latency_s(self) -> float:
        """Seconds to wait before answering: fixed latency plus uniform jitter."""
        jitter = self.faults.jitter_ms * self._streams["latency"].random()
        return (self.faults.latency_ms + jitter) / 1000

    def throttle(self) -> Throttle | None:
        """A 429 for this request, from the random rate or the token bucket."""
        faults = self.faults
        if faults.throttle_rps is not None and not self._take_token(faults.throttle_rps):
            wait = max(faults.retry_after_s, (1 - self._bucket) / faults.throttle_rps)
            return Throttle(self._maybe_missing(wait))
        if faults.throttle_rate and self._streams["throttle"].random() < faults.throttle_rate:
            return Throttle(self._maybe_missing(faults.retry_after_s))
        return None

    def server_error(self) -> int | None:
        """A 5xx status to answer with, or None."""
        stream = self._streams["error"]
        if self.faults.error_rate and stream.random() < self.faults.error_rate:
            return stream.choice(SERVER_STATUSES)
        return None

    def drop(self) -> bool:
        """Whether to close the connection without answering."""
        return (
            bool(self.faults.drop_rate) and self._streams["drop"].random() < self.faults.drop_rate
        )

    def rival(self, doc_id: str) -> bool:
        """Whether a rival writer edits the document just read before its reader's PATCH."""
        if doc_id in self.faults.rival_ids:
            return True
        rate = self.faults.rival_rate
        return bool(rate) and self._streams["rival"].random() < rate

    def ignore_patch(self) -> bool:
        """Whether to accept a PATCH without applying it."""
        rate = self.faults.ignore_patch_rate
        return bool(rate) and self._streams["ignore"].random() < rate

    def echo_reject(self) -> bool:
        """Whether to refuse a PATCH with a 400 whose message echoes the request body."""
        rate = self.faults.echo_reject_rate
        return bool(rate) and self._streams["echo"].random() < rate

    def redirect(self, method: str, path_qs: str) -> tuple[int, str] | None:
        """A 3xx status and the ``Location`` on the other origin for this request, or None."""
        faults = self.faults
        if method not in faults.redirect_methods or not faults.redirect_to:
            return None
        if not faults.redirect_rate or self._streams["redirect"].random() >= faults.redirect_rate:
            return None
        return faults.redirect_status, faults.redirect_to.rstrip("/") + path_qs

    def strip_etag(self) -> bool:
        """Whether to serve one document without its ``etag`` and ``version``."""
        rate = self.faults.no_etag_rate
        return bool(rate) and self._streams["etag"].random() < rate

    def garbage(self) -> bool:
        """Whether to answer 200 with a body that is not JSON."""
        rate = self.faults.garbage_rate
        return bool(rate) and self._streams["garbage"].random() < rate

    def rejects_credentials(self, doc_id: str, params: Any) -> bool:
        """Whether a connection test fails for the credentials ``params`` of ``doc_id``.

        Decided from the seed, the id and the credentials themselves, not from the order of
        requests: the same rotation is rejected however often, and whenever, it is tested.
        """
        values = params.values() if isinstance(params, dict) else ()
        matching = self.faults.reject_credentials_matching
        if matching is not None and matching in values:
            return True
        rate = self.faults.reject_credentials_rate
        if not rate:
            return False
        digest = hashlib.sha256(orjson.dumps([self._seed, doc_id, params])).digest()
        return int.from_bytes(digest[:8]) / 2**64 < rate

    def refuses_patch(self, doc: dict[str, Any]) -> bool:
        """Whether a PATCH to ``doc`` is refused (it matches ``fail_patch_where``)."""
        return self._refused is not None and self._refused.matches(doc)

    def run_fails(self, flow_id: str, started_ms: int) -> bool:
        """Whether the run of ``flow_id`` starting at ``started_ms``, after a change, fails.

        Decided from the seed, the flow and the run, so a run reads the same on every listing.
        """
        rate = self.faults.fail_runs_after_change
        if not rate:
            return False
        digest = hashlib.sha256(f"{self._seed}:{flow_id}:{started_ms}".encode()).digest()
        return rate >= 1 or int.from_bytes(digest[:8]) / 2**64 < rate

    def _maybe_missing(self, seconds: float) -> float | None:
        if self._streams["throttle"].random() < self.faults.retry_after_missing_rate:
            return None
        return seconds

    def _take_token(self, rate: float) -> bool:
        now = time.monotonic()
        self._bucket = min(rate, self._bucket + (now - self._bucket_at) * rate)
        self._bucket_at = now
        if self._bucket >= 1:
            self._bucket -= 1
            return True
        return False


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` in whole seconds, as HTTP wants; fractions only below one second."""
    if seconds >= 1 or seconds == 0:
        return str(math.ceil(seconds))
    return f"{seconds:.3f}"
