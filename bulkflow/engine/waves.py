"""A staged rollout: the targets in waves, each wave finished and judged before the next starts.

``waves: [10, "10%", "100%"]`` are cumulative sizes in the targets' order, a count or a share
of the targets rounded up (:func:`wave_bounds`); targets beyond the last size form one more
wave. Between two waves a :class:`~bulkflow.engine.gates.Gate` decides whether to go on; a
failed gate stops the run (:class:`~bulkflow.engine.breaker.Stop`), and with ``--pause`` a
passed one does too, for a person to look before ``--resume`` starts the next wave. There is
no gate after the last wave. The failure breaker works inside every wave (it lives in the
engine, waves or not).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from itertools import islice

import structlog

from bulkflow.engine.breaker import Stop
from bulkflow.engine.gates import Gate, Watch, WaveTally
from bulkflow.engine.pool import Engine, Summary
from bulkflow.errors import InputError
from bulkflow.job.prepare import PreparedJob
from bulkflow.job.targets import Target
from bulkflow.records.resultlog import ResultSink
from bulkflow.records.rollout import RolloutLog
from bulkflow.runconfig import FLAGS, RunConfig

log = structlog.get_logger("bulkflow.engine.waves")


def wave_bounds(sizes: tuple[int | str, ...], total: int) -> list[int]:
    """Where each wave ends (cumulative counts) over ``total`` targets; the last is ``total``.

    A size beyond ``total`` ends the waves there; a size not larger than the one before it,
    after rounding, raises ``ValueError(index, message)``.
    """
    bounds: list[int] = []
    if total == 0:
        return bounds
    for index, size in enumerate(sizes):
        end = size if isinstance(size, int) else _share(size, total)
        before = bounds[-1] if bounds else 0
        if end <= before:
            raise ValueError(
                index,
                f"wave {index + 1} ({size}: {end} of {total} targets) is not larger than the "
                f"wave before it ({before}); wave sizes are cumulative",
            )
        bounds.append(min(end, total))
        if end >= total:
            break
    if bounds[-1] < total:
        bounds.append(total)
    return bounds


def _share(percent: str, total: int) -> int:
    exact = Fraction(percent.removesuffix("%")) * total / 100
    return -(-exact.numerator // exact.denominator)  # rounded up, without float error


def waves_for(job: PreparedJob, config: RunConfig) -> list[int] | None:
    """The wave bounds of this run (None without waves); an input error names where the sizes
    were given: the job's ``options.waves`` line, or ``--waves``."""
    if config.waves is None:
        return None
    try:
        return wave_bounds(config.waves, job.target_count)
    except ValueError as exc:
        index, message = exc.args
        if job.job.options.waves == config.waves:
            line = job.loaded.lines.line(("options", "waves", index))
            raise InputError(f"options.waves: {message}", job.loaded.path, line) from None
        raise InputError(f"{FLAGS['waves']}: {message}") from None


def check_waves(job: PreparedJob, config: RunConfig) -> None:
    """Before any request: a job's waves must fit its targets (a query job's are checked once
    the query has answered)."""
    if job.query is None:
        waves_for(job, config)


class Rollout:
    """Runs an engine's targets wave by wave, with a gate between waves."""

    def __init__(self, engine: Engine, bounds: list[int], earlier: RolloutLog) -> None:
        self.engine = engine
        self.gate = Gate(engine.options, engine.client, engine.kind, lambda: engine.stopping)
        self.sink: ResultSink = engine.sink
        self.bounds = bounds
        self.earlier = earlier

    async def run(self, targets: Iterator[Target], keep: Callable[[Target], bool]) -> Summary:
        """Every wave in turn: the targets ``keep`` accepts, then the gate."""
        summary = self.engine.summary
        started = time.perf_counter()
        watch = Watch(self.engine.observer)
        self.engine.observer = watch
        summary.wave_count = len(self.bounds)
        positions = enumerate(targets)
        before = 0
        try:
            for number, upto in enumerate(self.bounds, 1):
                chunk = islice(positions, upto - before)
                tally = watch.tally = WaveTally(number, upto - before, upto)
                before = upto
                if upto <= self.earlier.finished_upto:
                    # Its gate passed in an earlier run of this log.
                    for _, target in chunk:
                        self._check_done(target)
                    continue
                if not await self._wave(tally, self._pending(chunk, tally, keep)):
                    break
        finally:
            self.engine.observer = watch.inner
            self.engine.wave = None
            summary.elapsed_s = time.perf_counter() - started
            summary.interrupted = summary.interrupted or self._interrupted()
        return summary

    async def _wave(self, tally: WaveTally, wave: Iterator[Target]) -> bool:
        """Run one wave and its gate; whether the rollout goes on."""
        summary = self.engine.summary
        self.engine.wave = tally.number
        log.info("wave.started", wave=tally.number, waves=len(self.bounds), upto=tally.upto)
        await self.engine.run(wave)
        summary.waves[tally.number] = tally.counts
        if self.engine.stopping or tally.number == len(self.bounds):
            return False
        result = await self.gate.judge(tally, len(self.bounds))
        if result is None:
            return False
        record = result.as_record()
        self.sink.write(record)
        summary.gates.append(record)
        log.info("wave.gate", wave=tally.number, passed=result.passed, reason=result.reason)
        if not result.passed:
            kind, sample = tally.failures.dominant()
            summary.stopped = Stop("gate", str(result.reason), kind, sample, tally.number)
            return False
        if self.gate.config.pause:
            summary.paused_after = tally.number
            return False
        return True

    def _pending(
        self, wave: Iterator[tuple[int, Target]], tally: WaveTally, keep: Callable[[Target], bool]
    ) -> Iterator[Target]:
        """The wave's targets to work on; a target done earlier brings its change time along
        (its flow's runs count in the soak)."""
        for position, target in wave:
            if position < self.earlier.finished_upto:
                self._check_done(target)
                continue  # done in a wave whose gate passed (the waves have changed since)
            if keep(target):
                yield target
            elif target.id in self.earlier.changed_ms:
                tally.changed_ms[target.id] = self.earlier.changed_ms[target.id]

    def _check_done(self, target: Target) -> None:
        """A target a passed gate says is done has a result in the log; else the log was
        edited (a forged gate), and skipping would leave the target never attempted."""
        if target.id not in self.earlier.recorded:
            raise InputError(
                f"the log's gates say the waves up to target {self.earlier.finished_upto:,} are "
                f"done, but {target.id} has no result there: an edited log; resume from a log "
                "bulkflow wrote, or start a new one"
            )

    def _interrupted(self) -> bool:
        """Stopped from outside (Ctrl-C) between waves, not by the breaker or a gate."""
        summary = self.engine.summary
        return self.engine.stopping and summary.stopped is None and summary.unreachable is None
