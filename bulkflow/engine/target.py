"""One target's path: fetch → plan → send (PATCH, then a state action) → verify → (412: again).

:class:`TargetPath` holds the visible 412 re-plan loop; transport retries live below it in the
client. It is the engine's default :class:`~bulkflow.engine.pool.TargetStrategy`; a reviewed
plan is applied by :class:`bulkflow.engine.saved.SavedPlanApply` instead.
"""

from __future__ import annotations

import contextvars
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import jsonpointer
import structlog

from bulkflow.engine.feed import Prefetched
from bulkflow.errors import ConflictError, InvalidResponseError, RetryableError, VerifyError
from bulkflow.flowservice.client import FlowClient
from bulkflow.guardrails import enforce, guardrail_warnings
from bulkflow.job.changes import ALWAYS_SENT, kind_of
from bulkflow.job.prepare import PreparedJob
from bulkflow.job.targets import Target
from bulkflow.planner import Op, Pointer, plan, state_action
from bulkflow.plantext import UNKNOWN, describe, short
from bulkflow.records.resultlog import ErrorInfo, Status
from bulkflow.runconfig import RunConfig
from bulkflow.undo.images import Image, before_images

log = structlog.get_logger("bulkflow.engine.pool")
IN_PROGRESS = frozenset(
    {"inprogress", "in_progress", "queued", "scheduled", "pending", "processing"}
)
FAILED = frozenset({"failed", "partial_failure", "partial_success", "error"})
CREDENTIALS_REJECTED = (
    "the service rejected the new credentials: GET /connections/{id}/test answered false; "
    "the rotation was applied, so fix the secret and run `bulkflow retry` on this log"
)


#: The name the public API has always used for a run's options.
EngineOptions = RunConfig


@dataclass
class Outcome:
    """What one target's attempts have found so far."""

    attempts: int = 0
    conflicts: int = 0
    retries: int = 0
    name: str | None = None
    etag_before: str | None = None
    etag_after: str | None = None
    ops: list[Op] = field(default_factory=list)
    images: list[Image] | None = None  # what each op replaces: the record's ``before``
    before: list[Any] = field(default_factory=list)  # per op: the value it replaces, or UNKNOWN
    action: str | None = None
    state_before: str | None = None  # the flow's state before ``action``
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    patch_unconfirmed: bool = False
    note: ErrorInfo | None = None


current: contextvars.ContextVar[Outcome | None] = contextvars.ContextVar("outcome", default=None)


def count_retry(_: RetryableError, __: float) -> None:
    """Client retry hook: attribute a scheduled retry to the target being worked on."""
    outcome = current.get()
    if outcome is not None:
        outcome.retries += 1


#: Told about each target a dry run would change (``plan --out``): its id, plan and etag.
OnPlanned = Callable[[Target, Outcome, str], None]
#: Told about each target just before its first request that changes anything (the log's
#: ``intent`` record: after a crash, ``undo`` knows what may have been applied).
Journal = Callable[[Target, Outcome], None]


class TargetPath:
    """Runs the attempts for one target at a time (shared by all workers: it holds no state).

    With ``on_planned`` (``plan --out``), secrets are planned as ``{{ secrets.NAME }}``
    references and each target a dry run would change is handed to it.
    """

    wants_documents = True  # a batch feed's listed documents save a GET each

    def __init__(
        self,
        job: PreparedJob,
        client: FlowClient,
        options: RunConfig,
        on_planned: OnPlanned | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.job = job
        self.client = client
        self.options = options
        self.on_planned = on_planned
        self.journal = journal
        self.kind = job.job.resource

    async def attempts(
        self, target: Target, outcome: Outcome, prefetched: Prefetched | None
    ) -> Status:
        """The target's final status; raises :class:`TargetError` when it fails."""
        status = await self._fetch_plan_send(target, outcome, prefetched)
        sent = status == Status.UPDATED or (status == Status.FAILED and outcome.note is not None)
        if sent and self.options.verify:
            await self.verify(target, outcome)
        return status

    async def _fetch_plan_send(
        self, target: Target, outcome: Outcome, prefetched: Prefetched | None
    ) -> Status:
        """GET, plan, PATCH with If-Match; on 412 the visible re-plan loop."""
        while True:
            outcome.attempts += 1
            doc, etag = prefetched or await self.client.get(self.kind, target.id)
            prefetched = None  # a re-plan after 412 always reads the document afresh
            if not self._plan(target, doc, etag, outcome):
                return Status.UPDATED if outcome.patch_unconfirmed else Status.UNCHANGED
            if self.options.dry_run:
                if self.on_planned is not None:
                    self.on_planned(target, outcome, etag)
                # As the real run will end: part of an undo that cannot be done is a failure.
                return Status.FAILED if outcome.note is not None else Status.PLANNED
            try:
                await self.send(target, etag, outcome)
                return self.sent_status(outcome)
            except ConflictError:
                await self._conflict(target, outcome)

    def _plan(self, target: Target, doc: dict[str, Any], etag: str, outcome: Outcome) -> bool:
        """Plan the target's changes against ``doc``; whether there is anything to send."""
        seen(doc, etag, outcome)
        changes = self.job.changes_for(target, secret_references=self.on_planned is not None)
        ops = plan(doc, changes)
        action = state_action(doc, changes) if self.kind == "flows" else None
        return self.planned(doc, etag, outcome, ops, action)

    def planned(
        self, doc: dict[str, Any], etag: str, outcome: Outcome, ops: list[Op], action: str | None
    ) -> bool:
        """Keep a plan made against ``doc`` (at ``etag``) in ``outcome``, with the values it
        replaces and the lines a person reads; whether there is anything to send."""
        seen(doc, etag, outcome)
        if not ops and action is None and outcome.patch_unconfirmed:
            return False  # our unconfirmed try was applied: its plan is what the run changed
        outcome.warnings = guardrail_warnings(doc, ops) if self.kind == "flows" else []
        enforce(outcome.warnings, self.options.strict)  # --strict: fails before any send
        outcome.ops, outcome.action = ops, action
        outcome.images = before_images(doc, ops)
        outcome.before = [before(doc, op) for op in ops]
        outcome.changes = [describe(op, was) for op, was in zip(ops, outcome.before, strict=True)]
        outcome.state_before = None
        if action is not None:
            state = doc.get("state")
            outcome.state_before = state if isinstance(state, str) else None
            wanted = "enabled" if action == "enable" else "disabled"
            outcome.changes.append(f"~ state: {short(state)} → {short(wanted)}")
        return bool(ops) or action is not None

    def sent_status(self, outcome: Outcome) -> Status:
        """``updated``; ``failed`` when part of the target could not be changed (the
        outcome's note says why: an undo's irreversible changes)."""
        return Status.FAILED if outcome.note is not None else Status.UPDATED

    async def _conflict(self, target: Target, outcome: Outcome) -> None:
        outcome.conflicts += 1
        limit = self.options.max_conflict_retries
        log.info("target.conflict", target=target.id, conflicts=outcome.conflicts)
        if outcome.conflicts > limit:
            raise ConflictError(
                f"the resource kept changing: 412 on {outcome.conflicts} attempt{'s' if outcome.conflicts != 1 else ''} (max_conflict_retries={limit})",
                412,
            )
        await anyio.sleep(random.uniform(0.5, 1.5) * self.options.conflict_backoff_s)

    async def send(self, target: Target, etag: str, outcome: Outcome) -> None:
        """PATCH the ops (if any), then the state action (if any), each with If-Match."""
        retries_before = outcome.retries
        if self.journal is not None:
            self.journal(target, outcome)
        try:
            if outcome.ops:
                outcome.etag_after = await self.client.patch(
                    self.kind, target.id, outcome.ops, etag
                )
                etag = outcome.etag_after or ""
            if outcome.action is not None:
                if not etag:
                    # The PATCH answered 202 without an etag: the action needs the one the
                    # service serves now (a state change does not overwrite anyone's content).
                    _, etag = await self.client.get(self.kind, target.id)
                outcome.etag_after = await self.client.action(target.id, outcome.action, etag)
        except ConflictError:
            # A 412 after a retried request may mean our own first try was applied; the re-plan
            # then comes out empty, and the target is reported updated, not unchanged.
            if outcome.retries > retries_before:
                outcome.patch_unconfirmed = True
            raise

    async def verify(self, target: Target, outcome: Outcome) -> None:
        """Read the target back: its last operation must finish well and nothing be left to do."""
        deadline = anyio.current_time() + self.options.verify_timeout_s
        delay = 0.2
        while True:
            doc, _ = await self.client.get(self.kind, target.id)
            status, _ = _last_operation(doc)
            if status in IN_PROGRESS and anyio.current_time() + delay < deadline:
                await anyio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            check_operation(doc, status, self.options)
            lines = self.left_to_do(target, doc)
            if lines:
                raise VerifyError("the change did not stick; still to do: " + "; ".join(lines))
            await self.check_credentials(target)
            return

    async def check_credentials(self, target: Target) -> None:
        """After a rotation, the service's own connection test (credentials cannot be read
        back): rejected new credentials fail verification."""
        rotated = _rotates(self.kind, self.job.changes_for(target))
        if rotated and not await self.client.test_connection(target.id):
            raise VerifyError(CREDENTIALS_REJECTED)

    def left_to_do(self, target: Target, doc: dict[str, Any]) -> list[str]:
        """What a read-back still lacks of the target's changes, one line each."""
        changes = self.job.changes_for(target)
        checkable = [c for c in changes if kind_of(c) not in ALWAYS_SENT]  # secrets: unreadable
        leftover = plan(doc, checkable)
        action = state_action(doc, changes) if self.kind == "flows" else None
        state = [f"state still {doc.get('state')}"] if action else []
        return [describe(op, before(doc, op)) for op in leftover] + state


def seen(doc: dict[str, Any], etag: str, outcome: Outcome) -> None:
    """What a fetch tells of the target before any planning: its name and etag."""
    outcome.name = doc.get("name") if isinstance(doc.get("name"), str) else None
    outcome.etag_before = etag


def check_operation(doc: dict[str, Any], status: str, options: RunConfig) -> None:
    """A read-back whose last operation is still running, or failed, fails verification."""
    if status in IN_PROGRESS:
        raise VerifyError(f"the update was still {status} after {options.verify_timeout_s:.0f}s")
    if status in FAILED:
        _, errors = _last_operation(doc)
        raise VerifyError(f"the service reports the update {status}: {short(errors)}")


def _rotates(kind: str, changes: list[Any]) -> bool:
    """Whether the job rotates a base connection's credentials (tested by ``--verify``)."""
    return kind == "connections" and any(kind_of(c) == "rotate_credentials" for c in changes)


def _last_operation(doc: dict[str, Any]) -> tuple[str, Any]:
    """The read-back's ``lastOperation`` status in lower case ("" if none) and its errors.

    Flow Service serves ``{"status": {"value": …, "errors": […]}}``; a plain string status is
    read as the value. Any other shape is not Flow Service's answer: ``invalid_response``.
    """
    operation = doc.get("lastOperation")
    if not operation:
        return "", []
    if not isinstance(operation, dict):
        raise _odd("lastOperation", operation, "an object")
    status = operation.get("status")
    if not status:
        return "", []
    if isinstance(status, str):
        return status.lower(), []
    if not isinstance(status, dict):
        raise _odd("lastOperation.status", status, "an object or string")
    value = status.get("value") or ""
    if not isinstance(value, str):
        raise _odd("lastOperation.status.value", value, "a string")
    return value.lower(), status.get("errors") or []


def _odd(field_name: str, value: Any, wanted: str) -> InvalidResponseError:
    kind = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    shown = kind.get(type(value), "a number")
    return InvalidResponseError(f"the read-back's {field_name} is {shown}, not {wanted}")


def before(doc: Any, op: Op) -> Any:
    """The value an op replaces or removes, read from the fetched document."""
    if op["op"] not in ("replace", "remove"):
        return UNKNOWN
    try:
        return Pointer(op["path"]).resolve(doc)
    except jsonpointer.JsonPointerException:
        return UNKNOWN
