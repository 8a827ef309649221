"""Every default of the harness in one place, and the settings of a sweep: a leaf (imports nothing of harness).

:class:`SweepSettings` decides what a sweep measures and how; it is what the CLI
and :func:`harness.sweep` build, what the run's JSON keeps and what ``--resume``
restores. :class:`RunOptions` says where a run's files go and what is shown;
it is not kept. Both check their values (:meth:`SweepSettings.check`) with
``ValueError``/``TypeError`` naming the setting, so the API refuses what the
parser refuses.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field

#: Time budget of one point in seconds, all its passes together (a timed sweep / a correctness-only check).
SWEEP_BUDGET_S = 0.5
CHECK_BUDGET_S = 5.0
#: Stop timing a point once the 95% CI of its median is within this fraction.
TARGET_REL_CI = 0.02
#: The backend speedups are relative to.
BASELINE = "numpy"
#: Passes per point, spread over the sweep and pooled.
REPEATS = 3
MAX_REPEATS = 1000
#: Seconds to spin the cores before the first point (and at most this long after an idle gap); each
#: point's warm-up also waits up to this long for its kernel to run at a steady speed.
SETTLE_S = 1.0
MAX_SETTLE_S = 600.0
#: The widest CI target: +/-100% of the median (beyond it a point's first round always meets it: a typo of 2 for 2%).
MAX_TARGET_REL_CI = 1.0
DEFAULT_PRESET = "inception3a"
CHECK_PRESET = "smoke"
RESULTS_DIR = "results"
PLOTS_DIR = "plots"
#: Rounds: at least this many, at most that many, each at least MIN_ROUND_S long; untimed warm-up first.
MIN_ROUNDS = 5
MAX_ROUNDS = 500
MIN_ROUND_S = 1e-3
WARMUP_S = 0.05
#: Clocks a point can be timed with: wall time, or the process's CPU time per thread (CPU backends).
CLOCKS = ("wall", "process")
#: Two passes of a point agree when their medians differ by at most this fraction beyond their own CIs.
PASS_AGREEMENT = 0.15
#: Extra passes a point whose passes disagree gets, at most, before it is flagged ``passes-disagree``.
MAX_EXTRA_PASSES = 2
#: A pass whose core-speed probe (:mod:`harness.probe`) ran more than this factor times the host's usual is
#: disturbed; a point all of whose passes were is flagged ``disturbed``.
PROBE_SLACK = 1.25
#: A benchmark round ran in the machine's slow state where the pace read after it (:func:`harness.probe.pace_s`)
#: was more than this times the usual reading: the 2-vCPU AMD EPYC VM's slow states read 1.40-1.50x with probe
#: version 2 (:mod:`harness.runwarnings` warns of such files; :mod:`harness.pacewait` waits such states out).
SLOW_PACE = 1.25
#: Seconds a worker process may take to start (import numpy, numba, torch, the plugins).
STARTUP_TIMEOUT_S = 120.0
#: Dask: how long queued points may wait for a worker, and how long to wait for the scheduler to answer.
QUEUE_TIMEOUT_S = 120.0
CONNECT_TIMEOUT_S = 10.0
#: compare: relative change that counts, two-sided error level of each point's interval.
THRESHOLD = 0.10
ALPHA = 0.01
#: The longest ``harness calibrate --drift-s`` trace (seconds).
MAX_DRIFT_S = 3600.0
#: A point whose median pass met other processes using at least this share of its cores' CPU time (0.25: half a core
#: of two; its ``others_share``) is flagged ``contended`` (:mod:`harness.contention`).
CONTENDED_SHARE = 0.25
#: compare: a contended point whose share exceeds the other run's by this much met more of it than the other (quiet
#: smoke and inception3a points read 0.00-0.19, points beside one busy loop 0.23-0.61 on the 2-vCPU Intel VM).
CONTENTION_GAP = 0.1
#: compare: the most contention is taken to move a kernel - beside one busy process on the 2-vCPU Intel VM a
#: 2-thread kernel moved up to 3.7x (5x timed in CPU seconds); a change whose whole interval lies beyond this
#: is not explained by the other processes of one run.
CONTENDED_MAX = 10.0
#: compare: the most a slowed core moved a kernel on the shared Zen 5 VM (1.4-1.8x): a change whose whole
#: interval lies beyond this is not explained by a ``disturbed`` row.
DISTURBED_MAX = 2.0


def default_timeout_s(budget_s: float) -> float:
    """``--timeout-s`` default: a point's budget 20 times over, and at least 60 s for a first call's JIT compile."""
    return max(60.0, 20.0 * budget_s)


@dataclass
class SweepSettings:
    """Everything that decides what a sweep measures and how; JSON-able via :meth:`to_dict`.

    ``backends`` empty means the default ones (resolved by :func:`harness.backends.sweep_backends`).
    """

    preset: str = DEFAULT_PRESET
    layers: str | None = None
    plugins: list = field(default_factory=list)
    backends: list = field(default_factory=list)
    axes: list = field(default_factory=list)  # [[name, [values...]], ...] as parsed from --axis
    dtype: str | None = None
    threads: int | None = None
    budget_s: float = SWEEP_BUDGET_S
    target_rel_ci: float = TARGET_REL_CI
    baseline: str = BASELINE
    repeats: int = REPEATS
    settle_s: float = SETTLE_S
    cold: bool = False
    fused: bool = True
    clock: str = "wall"
    scheduler: str | None = None
    bench_resource: bool = True
    queue_timeout_s: float = QUEUE_TIMEOUT_S
    connect_timeout_s: float = CONNECT_TIMEOUT_S
    #: Wall-clock limit per pass of a point in its worker (None: :func:`default_timeout_s` of the budget).
    timeout_s: float | None = None
    #: Run kernels in the sweep's own process (no worker, no timeout): for debugging.
    in_process: bool = False
    #: Start every backend's worker anew before each round of passes (``--fresh-workers``).
    fresh_workers: bool = False
    #: The base build of an A/B run (``--against``): a git commit or a folder holding a ``kernels`` package;
    #: once checked, the folder its kernels are imported from (so a resumed run meets the same build).
    against: str | None = None

    @classmethod
    def from_dict(cls, data: dict) -> SweepSettings:
        """Settings stored in a run's JSON (unknown keys from other versions are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_dict(self) -> dict:
        """A JSON-able dict of every setting."""
        return dataclasses.asdict(self)

    def point_timeout_s(self) -> float:
        """The wall-clock limit of one pass of a point: ``timeout_s``, else max(60, 20 x budget)."""
        return self.timeout_s if self.timeout_s is not None else default_timeout_s(self.budget_s)

    def check(self) -> SweepSettings:
        """Return self if every value is one a sweep can use; else TypeError/ValueError naming the setting."""
        for name in ("cold", "fused", "bench_resource", "in_process", "fresh_workers"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} is an on/off option: pass True or False, got {getattr(self, name)!r}")
        for name, kind in (("preset", str), ("baseline", str), ("clock", str)):
            if not isinstance(getattr(self, name), kind):
                raise TypeError(f"{name} must be a str, got {type(getattr(self, name)).__name__}")
        for name in ("plugins", "backends"):
            names = getattr(self, name)
            if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
                raise TypeError(f"{name} must be a list of names, got {names!r}")
        if not isinstance(self.axes, (list, tuple)) or not all(
                isinstance(a, (list, tuple)) and len(a) == 2 and isinstance(a[0], str)
                and isinstance(a[1], (list, tuple)) for a in self.axes):
            raise TypeError(f"axes must be a list of [axis name, [values...]] pairs, got {self.axes!r}")
        for name, kinds in (("layers", (str, os.PathLike)), ("dtype", str), ("scheduler", str)):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), kinds):
                raise TypeError(f"{name} must be a str or None, got {getattr(self, name)!r}")
        if self.against is not None and not isinstance(self.against, (str, os.PathLike)):
            raise TypeError(f"against must be a git commit or a folder, got {type(self.against).__name__}")
        check_number("repeats", self.repeats, 1, MAX_REPEATS, integer=True, why="more passes than that is a typo")
        check_number("settle_s", self.settle_s, 0, MAX_SETTLE_S, why="ten minutes of spinning is a typo")
        check_number("target_rel_ci", self.target_rel_ci, 0, MAX_TARGET_REL_CI, strict=True,
                     why="a fraction of the median: 0.02 is 2%")
        for name in ("budget_s", "queue_timeout_s", "connect_timeout_s", "timeout_s"):
            if getattr(self, name) is not None or name != "timeout_s":
                check_number(name, getattr(self, name), 0, math.inf, strict=True)
        if self.threads is not None:
            check_number("threads", self.threads, 1, math.inf, integer=True)
        if self.clock not in CLOCKS:
            raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, got {self.clock!r}")
        return self

    def overrides(self) -> dict:
        """Axis name -> tuple of values replacing the preset's, from ``axes``, ``dtype`` and ``threads``."""
        names = [name for name, _ in self.axes]
        twice = next((n for n in names if names.count(n) > 1), None)
        if twice:
            raise ValueError(f"--axis {twice} is given more than once: give all its values in one, e.g. "
                             f"--axis {twice}=" + ",".join(",".join(map(str, v)) for n, v in self.axes if n == twice))
        overrides = {name: tuple(values) for name, values in self.axes}
        for name, value, option in (("dtype", self.dtype, "--dtype"), ("threads", self.threads, "--threads")):
            if value:
                if name in overrides and overrides[name] != (value,):
                    raise ValueError(f"{option} {value} and --axis {name}={','.join(map(str, overrides[name]))} "
                                     "disagree: give one of them")
                overrides[name] = (value,)
        return overrides


def check_number(name: str, value, lowest: float, highest: float, *, strict: bool = False, integer: bool = False,
                 why: str = "") -> None:
    """Refuse a ``value`` of setting ``name`` that is not a (finite, ``integer``) number in [lowest, highest]
    (``strict``: above ``lowest``): TypeError for the kind, ValueError for the range."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise TypeError(f"{name} must be {'an int' if integer else 'a number'}, got {value!r}")
    if value != value or (strict and value <= lowest) or value < lowest or value > highest or value == math.inf:
        if highest < math.inf:
            raise ValueError(f"{name} must be between {lowest:g} and {highest:g}"
                             f"{f' ({why})' if why else ''}, got {value!r}")
        raise ValueError(f"{name} must be {'>' if strict else '>='} {lowest:g}, got {value!r}")


@dataclass
class RunOptions:
    """Where a sweep's files go, what it shows, and how it was asked for (not kept with the run's settings).

    ``run_id`` None picks a fresh ``PRESET-DATE-TIME`` id (``-2``, ``-3``... when taken); ``resume`` continues
    that run with its own settings. ``command`` is what the run's JSON records as the way to reproduce it;
    ``started_at`` the time (seconds since the epoch) the run's wall time counts from (None: now).
    """

    #: Settings a resumed run may take from the request that resumes it (how it runs, not what it measures).
    RESUMABLE = ("timeout_s", "in_process")

    results_dir: str = RESULTS_DIR
    plots_dir: str = PLOTS_DIR
    run_id: str | None = None
    resume: str | None = None
    plots: bool = True
    report: bool = True
    quiet: bool = False
    fresh_peak: bool = False
    command: list = field(default_factory=list)
    started_at: float | None = None
    #: With ``resume``: the settings the continued run takes from this request (``timeout_s``, ``in_process``).
    resume_with: dict = field(default_factory=dict)
