"""Simulator settings: documents to seed and faults to inject, all reproducible from a seed."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bulkflow.sim.filters import QueryError, parse_filter

DEFAULT_ORG = "SIMULATOR0000000000000000@AdobeOrg"


class Faults(BaseModel):
    """Faults the simulator injects. Rates are probabilities per request, drawn from the seed.

    Example::

        Faults(latency_ms=50, throttle_rate=0.1, retry_after_s=1, rival_rate=0.5)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    latency_ms: float = Field(0.0, ge=0)
    jitter_ms: float = Field(0.0, ge=0)
    throttle_rate: float = Field(0.0, ge=0, le=1)
    throttle_rps: float | None = Field(None, gt=0)
    retry_after_s: float = Field(1.0, ge=0)
    retry_after_missing_rate: float = Field(0.0, ge=0, le=1)
    error_rate: float = Field(0.0, ge=0, le=1)
    drop_rate: float = Field(0.0, ge=0, le=1)
    rival_rate: float = Field(0.0, ge=0, le=1)
    rival_ids: frozenset[str] = frozenset()  # the rival edits these before every PATCH
    ignore_patch_rate: float = Field(0.0, ge=0, le=1)
    echo_reject_rate: float = Field(0.0, ge=0, le=1)  # 400 whose message echoes the body
    # A hostile or misconfigured gateway: 3xx to another origin (Location = redirect_to + path),
    # documents served without etag/version, 200 answers whose body is HTML.
    redirect_rate: float = Field(0.0, ge=0, le=1)
    redirect_status: Literal[301, 302, 303, 307, 308] = 307
    redirect_to: str | None = None
    redirect_methods: frozenset[str] = frozenset({"GET", "PATCH"})
    no_etag_rate: float = Field(0.0, ge=0, le=1)
    garbage_rate: float = Field(0.0, ge=0, le=1)
    # GET /connections/{id}/test answers false for a connection whose auth params hold this
    # value, or (the same connections for the same seed and credentials) at this rate.
    reject_credentials_matching: str | None = Field(None, min_length=1)
    reject_credentials_rate: float = Field(0.0, ge=0, le=1)
    # A destination kind that rejects the change: every PATCH to a flow matching this property
    # filter (``flowSpec.id==…``) is a 400. And runs of changed flows that fail: the share of
    # runs that start after a client changed their flow.
    fail_patch_where: str | None = None
    fail_runs_after_change: float = Field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _redirect_has_target(self) -> Faults:
        if self.redirect_rate and not self.redirect_to:
            raise ValueError("redirect_rate needs redirect_to, the origin to point at")
        return self

    @model_validator(mode="after")
    def _patch_filter_parses(self) -> Faults:
        if self.fail_patch_where is not None:
            try:
                parse_filter(self.fail_patch_where)
            except QueryError as exc:
                raise ValueError(f"fail_patch_where: {exc}") from None
        return self


class SimConfig(BaseModel):
    """Everything the simulator needs to start.

    Example::

        SimConfig(flows=1000, connections=50, seed=7, faults=Faults(rival_rate=0.5))
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    port: int = Field(0, ge=0, le=65535)
    flows: int = Field(0, ge=0)
    connections: int = Field(0, ge=0)
    target_connections: int = Field(0, ge=0)
    source_connections: int = Field(0, ge=0)
    seed: int = 0
    sandbox: str = "prod"
    org_id: str = DEFAULT_ORG
    load: tuple[Path, ...] = ()
    faults: Faults = Faults()
    patch_status: Literal[200, 202] = 200
    operation_s: float = Field(0.0, ge=0)  # how long lastOperation stays inProgress after a write
    strict_etag: bool = False
    token_ttl_s: float = Field(86399.0, gt=0)
    client_id: str | None = None
    client_secret: str | None = None
    fixed_token: str | None = None
    ims_echo_secret: bool = False  # IMS refusals quote the client_secret sent (hostile)
    journal: bool = True
    on_demand: bool = False  # unknown ids in the default sandbox are generated when read
    # (kind, id, shape) documents to generate at start: the ids some jobs name (bulkflow sim
    # seeds the example jobs' targets so that they exist without on_demand).
    ensure: tuple[tuple[str, str, str], ...] = ()
    run_interval_s: float | None = Field(None, gt=0)  # enabled flows run this often (sim/runs.py)
