"""The two builds of an A/B run (``sweep --against``) read as two runs: ``RUN@base`` and ``RUN``.

An A/B run's table (a sweep's, or a pytest-benchmark file of the suite run with
``CONVBENCH_BENCH_AGAINST``) holds both builds' rows: the base build's backends under ``NAME@base``, this
build's under their own names. :func:`build_half` keeps one build's rows (and samples, pass medians) under
the backends' own names, so that ``harness compare RUN@base RUN`` matches ``numba-cpu@base`` with
``numba-cpu`` like any two runs. A run without base rows is its own build whole. Light on purpose: no
kernels, no Numba (compare reads run files without them).
"""
from __future__ import annotations

#: The suffix of a base build's backend names, and of a run reference that means its base build.
SUFFIX = "@base"
#: Where :func:`build_of` marks each build of an A/B run's samples with ``(run id, started at, base build?)``:
#: two halves of one run ran each point's pass ``i`` back to back (:mod:`harness.abpairs`).
AB_RUN_ATTR = "ab_run"


def is_twin(name) -> bool:
    """Whether ``name`` is a base build's backend (``numba-cpu@base``)."""
    return isinstance(name, str) and name.endswith(SUFFIX) and len(name) > len(SUFFIX)


def own_name(name: str) -> str:
    """The name a base build's backend has in its own build: ``numba-cpu@base`` -> ``numba-cpu``."""
    return name[: -len(SUFFIX)] if is_twin(name) else name


def split_ref(ref: str) -> tuple[str, bool]:
    """``("r1", True)`` for ``"r1@base"`` (the base build of A/B run r1), ``(ref, False)`` otherwise."""
    text = str(ref)
    return (text[: -len(SUFFIX)], True) if text.endswith(SUFFIX) and len(text) > len(SUFFIX) else (text, False)


def _keep(frame, base: bool):
    """The rows of ``frame`` (a table or samples) of one build, under the backends' own names."""
    if "backend" not in frame.columns:
        return frame
    twins = frame["backend"].map(is_twin)
    part = frame[twins if base else ~twins].copy()
    if base:
        if "case" in part.columns:
            part["case"] = [own_case(b, str(c)) for b, c in zip(part["backend"], part["case"])]
        part["backend"] = part["backend"].map(own_name)
    part.attrs = {}
    return part


def _keep_keys(by_key, base: bool):
    """A ``{(backend, ...): value}`` attribute of one build, keys under the backends' own names."""
    if not isinstance(by_key, dict):
        return by_key
    return {(own_name(k[0]), *(own_case(k[0], c) for c in k[1:2]), *k[2:]): v for k, v in by_key.items()
            if isinstance(k, tuple) and k and is_twin(k[0]) == base}


def own_case(backend, case):
    """A case under its build's own backend name: a benchmark's case holds its backend's name
    (``test_conv2d:numpy@base-3a-1x1`` -> ``test_conv2d:numpy-3a-1x1``); a sweep's case is kept as it is."""
    return case.replace(backend, own_name(backend)) if isinstance(case, str) and is_twin(backend) else case


def is_ab(table) -> bool:
    """Whether a run's table holds a base build's rows (an A/B run)."""
    return "backend" in table.columns and bool(table["backend"].map(is_twin).any())


def build_half(table, samples, base: bool):
    """(table, samples) of one build of an A/B run: the base build's (``base``) or this build's rows, under the
    backends' own names, with the samples' per-point attributes kept to that build (run-wide ones stay)."""
    if not base and not is_ab(table):
        return table, samples
    if base and not is_ab(table):
        raise ValueError("the run holds no base build (no NAME@base rows): RUN@base names the base build of a "
                         "run made with sweep --against")
    new_table, new_samples = _keep(table, base), _keep(samples, base)
    for key, value in getattr(samples, "attrs", {}).items():
        keyed = isinstance(value, dict) and value and all(isinstance(k, tuple) for k in value)
        new_samples.attrs[key] = _keep_keys(value, base) if keyed else value
    return new_table, new_samples


def build_of(run: tuple, base: bool) -> tuple:
    """One build of a ``(label, table, samples, metadata)`` run, as a run of its own (:func:`build_half`); the
    base build's label is ``RUN@base``, and each half of an A/B run carries :data:`AB_RUN_ATTR`."""
    label, table, samples, metadata = run
    half_table, half_samples = build_half(table, samples, base)
    if half_samples is not samples and half_samples is not None:  # an A/B run's half: a copy of its own
        meta = metadata if isinstance(metadata, dict) else {}  # the run as made, whatever its files are named now
        half_samples.attrs[AB_RUN_ATTR] = (str(meta.get("run_id") or label), meta.get("started_at"), bool(base))
    return (f"{label}{SUFFIX}" if base else label, half_table, half_samples, metadata)
