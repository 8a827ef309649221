"""Sweep settings: the one home of every default, built from CLI arguments or the API, kept in the run JSON.

:class:`SweepSettings` is what ``--resume`` restores, what a Dask worker receives
and what :func:`harness.sweep` takes; ``resolve_cases`` turns it into the
preset (or layer file) and the cases to measure.
"""
from __future__ import annotations

import dataclasses
import gc
from dataclasses import dataclass, field

#: Per-point time budgets (seconds): a timed sweep, and a correctness-only check.
SWEEP_BUDGET_S = 0.5
CHECK_BUDGET_S = 5.0
#: Stop timing a point once the 95% CI of its median is within this fraction.
TARGET_REL_CI = 0.02
#: The backend speedups are relative to.
BASELINE = "numpy"
#: Passes per point, spread over the sweep and pooled.
REPEATS = 3
#: Seconds to spin the cores before the first point (and at most this long after an idle gap); each
#: point's warm-up also waits up to this long for its kernel to run at a steady speed.
SETTLE_S = 1.0
DEFAULT_PRESET = "inception3a"
#: compare: relative change that counts, significance level, smallest change of a median that counts.
THRESHOLD = 0.10
ALPHA = 0.01
MIN_DELTA_S = 10e-6


def session_plugins(given: list[str], backends) -> list[str]:
    """``given`` plus the plugins already loaded in this process (a notebook's ``load_plugin``) that provide one
    of ``backends`` (default: the default ones), so that worker processes, which start fresh, know them."""
    import kernels

    from .plugins import loaded_plugins, plugin_key

    wanted = set(backends or kernels.default_backends())
    keys = {plugin_key(ref) for ref in given}
    return given + [key for key, names in loaded_plugins().items() if key not in keys and wanted & set(names)]


@dataclass
class SweepSettings:
    """Everything that decides what a sweep measures and how; JSON-able via :meth:`to_dict`."""

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
    scheduler: str | None = None
    #: Wall-clock limit per pass of a point in its worker (None: ``harness.executor.default_timeout_s``).
    timeout_s: float | None = None
    #: Run kernels in the sweep's own process (no worker, no timeout): for debugging.
    in_process: bool = False

    def __post_init__(self) -> None:
        if not self.backends:
            import kernels

            self.backends = kernels.default_backends()

    @classmethod
    def from_args(cls, args, budget_s: float = SWEEP_BUDGET_S) -> SweepSettings:
        """Settings from parsed CLI arguments (options a command lacks keep their defaults)."""
        values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
                  if getattr(args, f.name, None) is not None}
        values["plugins"] = session_plugins(list(getattr(args, "plugin", None) or []), values.get("backends"))
        values["fused"] = not getattr(args, "no_fused", False)
        values["axes"] = [[name, list(vals)] for name, vals in getattr(args, "axis", None) or []]
        values.setdefault("budget_s", budget_s)
        return cls(**values)

    @classmethod
    def from_dict(cls, data: dict) -> SweepSettings:
        """Settings stored in a run's JSON (unknown keys from other versions are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_dict(self) -> dict:
        """A JSON-able dict of every setting."""
        return dataclasses.asdict(self)

    def timing_config(self):
        """The :class:`harness.timing.TimingConfig` of one point under these settings."""
        from .timing import TimingConfig

        return TimingConfig(budget_s=self.budget_s, target_rel_ci=self.target_rel_ci, cold=self.cold,
                            settle_s=self.settle_s)

    def point_timeout_s(self) -> float:
        """The wall-clock limit of one pass of a point: ``timeout_s``, else max(60, 20 x budget)."""
        from .executor import default_timeout_s

        return self.timeout_s if self.timeout_s is not None else default_timeout_s(self.budget_s)

    def executor(self):
        """The executor these settings ask for: worker processes with a timeout, or ``--in-process``."""
        from .executor import InProcessExecutor, WorkerExecutor

        if self.in_process:
            return InProcessExecutor()
        return WorkerExecutor(self.plugins, self.point_timeout_s())

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


def unsupported_layers(settings: SweepSettings) -> list:
    """The convolutions of the settings' layer file the kernels cannot run (benchdnn files), with reasons."""
    from .layerfile import load_layer_file

    return load_layer_file(settings.layers)[1] if settings.layers else []


def resolve_cases(settings: SweepSettings):
    """(preset, cases) for ``settings``; raises ValueError for a bad layer file or too many threads."""
    from .cases import build_cases, check_no_overflow
    from .layerfile import layers_preset
    from .layers import SHAPE_FIELDS
    from .presets import get_preset
    from .threads import max_threads

    overrides = settings.overrides()
    for t in overrides.get("threads", ()):
        if t > max_threads():
            raise ValueError(f"threads={t} exceeds the {max_threads()} threads Numba can use here (NUMBA_NUM_THREADS)")
    collecting = gc.isenabled()
    gc.disable()  # a million layers are millions of objects, none garbage yet: the collector would double the time
    try:
        preset = layers_preset(settings.layers) if settings.layers else get_preset(settings.preset)
        cases = build_cases(preset, overrides, default_threads=max_threads())
    finally:
        if collecting:
            gc.enable()
    if set(overrides) & set(SHAPE_FIELDS):  # presets and layer files were checked when loaded; axes multiply them
        check_no_overflow(cases)
    return preset, cases
