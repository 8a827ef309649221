"""The run-to-run noise floor of ``harness compare``: per backend, measured, never inflated by the change it judges.

Two runs of unchanged code differ by more than their rounds suggest: each run is a
fresh process (its own buffer placement, runtime choices, clock, neighbours). That
process-to-process spread is ``floor_sd``, a standard deviation of the log time
ratio, per backend. It comes from one of two places, the wider wins:

* **stored**: ``harness calibrate`` runs the same sweep in two fresh processes and
  stores each backend's spread of log ratios (root mean square, outliers included -
  an A/A test has no regression to be robust against - but for points a burst hit in one run,
  :func:`harness.compare_rule.burst_hit`) minus the part the rounds explain, per CPU model in
  ``RESULTS_DIR/noise.json`` (:func:`calibration_floors`);
* **this comparison** (:func:`row_floors`): each row is judged against the spread
  of its backend's *other* rows around their mean (a slowdown of the whole backend
  moves the mean, not the spread; the row itself never widens the floor that
  judges it), as a Student-t prediction interval, wide when the rows are few. A
  backend with fewer than ``MIN_ROWS`` rows borrows the spread of another backend's
  ratios around 1, shift included - its kin's (a fused chain's unfused backend),
  else the widest (:func:`borrowed_floor`); a fused chain with fewer than ``FEW_ROWS`` rows pools its
  own rows' scatter with its kin's (:func:`pooled_half_width`); a floor of 0 from a few rows whose scatter
  their rounds explain is unknown, not zero (:func:`unknown_zeros`).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

from .backends import unfused_by_name
from .durable import read_store, store_to_update
from .probe import FIRST_PROBE
from .runfiles import NOISE_FILE

#: A backend needs this many matched rows for a floor of its own (fewer: the other backends' pooled scatter).
MIN_ROWS = 4
#: Below this many other rows, a floor of 0 (their rounds' spread explains all their scatter) is taken as
#: unknown, not as no run-to-run noise: the row gets their scatter with the rounds' part left in.
FEW_ROWS = 8


def excess_sd(spread_sd: float, within_var: float) -> float:
    """The between-run standard deviation: ``spread_sd`` less the part the rounds' own variance explains."""
    return math.sqrt(max(spread_sd ** 2 - within_var, 0.0))


def t_of(alpha: float, dof: int) -> float:
    """The two-sided Student-t quantile of level ``alpha`` with ``dof`` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(1 - alpha / 2, dof))


def predicted_half_width(values, within_se, alpha: float, centred: bool = True) -> float:
    """Half-width (log) of the interval one more row's run-to-run noise lies in, given ``values`` of other rows:
    ``t(alpha, dof) * s * sqrt(1 + 1/m)`` with ``s`` their standard deviation (around their mean when
    ``centred``, else around 0) less their rows' own within-run variance."""
    import numpy as np

    values, within_se = np.asarray(values, dtype=float), np.asarray(within_se, dtype=float)
    m = len(values)
    dof = m - 1 if centred else m
    spread = float(np.std(values, ddof=1)) if centred else float(np.sqrt(np.mean(values ** 2)))
    sd = excess_sd(spread, float(np.mean(within_se ** 2)))
    return t_of(alpha, dof) * sd * math.sqrt(1 + 1 / m)


def row_floors(rows, alpha: float, back_to_back=frozenset(), left_out=frozenset(),
               moved=frozenset()) -> list[tuple[float, str]]:
    """Per ``(backend, log_ratio, within_se)`` row: ``(half-width, source)`` of the run-to-run part of its interval.

    A row is judged against its backend's *other* rows (``MIN_ROWS - 1`` or more), centred on
    their own mean: a slowdown of the whole backend moves that mean, not the spread, and the
    row itself never widens the floor that judges it. The Student-t quantile makes a floor
    estimated from few rows wide. A backend with fewer rows cannot tell its shift from its
    noise: its rows get the widest spread around 1 (shift and scatter) of another backend.
    A backend in ``back_to_back`` (its points timed one after another, as pytest-benchmark
    runs a backend's benchmarks) is judged against the spread of its other
    rows around 1, shift included: a slow minute of the machine moves all its points
    together, and that common shift is run-to-run noise too (Intel VM, five pairs of unchanged
    pytest-benchmark runs: numba-cpu's five benchmarks 1.36-1.45x apart in one pair, torch's
    1.68x in another; centred on their shift, 2 of the 5 pairs exited 1).
    A backend in ``moved`` (its move as a whole lies beyond the threshold, :mod:`harness.backendmove`) lends a
    backend with too few rows its scatter around its own mean only: its move is a change, not noise (on three
    benchmark files a side, torch's real 1.3x gave the suite's two one-benchmark backends a floor of x/ 3.2).
    Rows numbered in ``left_out`` (positions in ``rows``: points a burst or other processes moved in one run,
    :func:`harness.compare_rule.burst_hit`, :func:`harness.interference.contention_split`) get a floor from the
    others but never widen another row's.
    """
    import numpy as np

    by_backend: dict = {}
    for i, (backend, d, se) in enumerate(rows):
        by_backend.setdefault(backend, []).append(i)
    d_all = np.array([d for _, d, _ in rows], dtype=float)
    se_all = np.array([se for _, _, se in rows], dtype=float)
    lone: dict = {}
    out, unknown = [], []
    left = {b: sum(j in left_out for j in js) for b, js in by_backend.items()}  # named in each source
    for i, (backend, _, _) in enumerate(rows):
        others = [j for j in by_backend[backend] if j != i and j not in left_out]
        if len(others) >= MIN_ROWS - 1:
            centred = backend not in back_to_back
            kin = unfused_by_name(backend)
            kin_rows = [j for j in by_backend.get(kin, ()) if j not in left_out]
            if centred and len(others) < FEW_ROWS - 1 and len(kin_rows) >= MIN_ROWS:
                half = pooled_half_width(d_all, se_all, [others, kin_rows], alpha)
                out.append((half, f"spread of its other {len(others)} rows pooled with its unfused backend's "
                                  f"{len(kin_rows)} ({kin}'s)"))
                continue
            half = predicted_half_width(d_all[others], se_all[others], alpha, centred=centred)
            if zero_unknown(half, d_all[others]):
                unknown.append((i, others))
            out.append((half, f"spread of its other {len(others)} rows" + ("" if centred else " around 1")))
            continue
        if backend not in lone:
            lone[backend] = borrowed_floor(backend, by_backend, d_all, se_all, alpha, moved, left_out)
        out.append(lone[backend])
    out = [(half, source + (f" ({left[b]} left out: a burst or contention in one run)" if left[b] else ""))
           for (half, source), (b, _, _) in zip(out, rows)]
    return unknown_zeros(out, rows, unknown, alpha)


def pooled_half_width(d_all, se_all, groups: list, alpha: float) -> float:
    """:func:`predicted_half_width` from several groups of rows (positions in ``d_all``), each around its own mean,
    their squares pooled: ``t(alpha, sum(m - 1)) * s * sqrt(1 + 1/m_first)`` with ``s`` the pooled spread less the
    rows' mean within-run variance; the first group is the judged row's own backend. A fused chain with four points
    judged each against three others: ``t(0.01, 2)`` is 9.9, and three ratios within 0.93-1.06 of unchanged A/B runs
    made a floor of x/ 1.8-3.4 on the AMD EPYC VM; pooled with numba-cpu's sixteen (its kin: the same JIT and
    threading layer), ``t`` falls to about 2.9."""
    import numpy as np

    squares = sum(float(np.sum((d_all[js] - np.mean(d_all[js])) ** 2)) for js in groups)
    dof = sum(len(js) - 1 for js in groups)
    within = float(np.mean(np.concatenate([se_all[js] for js in groups]) ** 2))
    sd = excess_sd(math.sqrt(squares / dof), within)
    return t_of(alpha, dof) * sd * math.sqrt(1 + 1 / len(groups[0]))


def borrowed_floor(backend: str, by_backend: dict, d_all, se_all, alpha: float, moved,
                   left_out=frozenset()) -> tuple[float, str]:
    """The floor a backend with too few rows borrows: the spread (shift included, unless the lender ``moved``) of its
    kin's rows where it has ``MIN_ROWS`` (:func:`harness.backends.unfused_by_name`: numba-cpu for numba-cpu-fused, the same JIT, threading layer
    and kernel sizes), else the widest of another backend's with two rows or more. Rows in ``left_out`` (a burst or
    contention in one run) lend nothing, unless no lender has two rows besides them; a spread of 0 from fewer than ``FEW_ROWS`` rows that do scatter is taken with
    their rounds left in, as :func:`unknown_zeros` does. Measured on the AMD EPYC VM: smoke's one fused point (it
    has four since 02b0fce) borrowed x/ 1.17-1.36 as the widest of four backends and an injected 1.3x was `slower`
    in 1 of 6 A/B comparisons (with its kin's: 3 of 6)."""
    import numpy as np

    def spread(js: list, centred: bool) -> float:
        half = predicted_half_width(d_all[js], se_all[js], alpha, centred=centred)
        if zero_unknown(half, d_all[js]):
            half = predicted_half_width(d_all[js], np.zeros(len(js)), alpha, centred=centred)
        return half

    everyone = {b: js for b, js in by_backend.items() if b != backend and len(js) >= 2}
    rows = {b: kept for b, js in everyone.items() if len(kept := [j for j in js if j not in left_out]) >= 2}
    rows = rows or everyone  # every lender's rows left out (a run beside a busy process throughout): not a floor of 0
    kin, own = unfused_by_name(backend), len(by_backend[backend])
    if kin in rows and len(rows[kin]) >= MIN_ROWS:
        return spread(rows[kin], kin in moved), f"spread of its unfused backend's rows ({kin}'s): it has {own}"
    spreads = {b: spread(js, b in moved) for b, js in rows.items()}
    widest = max(spreads, key=spreads.get) if spreads else None
    if widest is None:
        return 0.0, f"none: too few rows ({own}) to estimate one"
    return spreads[widest], f"widest spread of another backend's rows ({widest}'s): it has {own}"


def zero_unknown(half: float, values) -> bool:
    """True when a floor of 0 from ``values`` (other rows' log ratios) is unknown, not zero: fewer than ``FEW_ROWS``
    rows that do scatter, all of it explained by their rounds (:func:`unknown_zeros`)."""
    import numpy as np

    return half == 0 and len(values) < FEW_ROWS and float(np.ptp(values)) > 1e-9


def unknown_zeros(floors: list, rows, unknown: list, alpha: float) -> list[tuple[float, str]]:
    """``floors`` with the rows numbered in ``unknown`` - a floor of 0 from fewer than ``FEW_ROWS`` other rows
    that do scatter, all of it explained by their rounds - given the prediction interval of their scatter as it
    is, the rounds' part not taken out: from so few rows an excess of 0 is unknown, not zero (other rows that
    agree exactly, as in a copy of a run slowed by a factor, keep 0). Measured on the Intel VM beside a
    competing process: numba-cpu-fused's four points, three of them with rounds spread x/2-3, left its fourth a
    floor of 0, and that point's 1.5x between two unchanged runs was `slower`."""
    out = list(floors)
    for i, others in unknown:
        values = [rows[j][1] for j in others]
        out[i] = (predicted_half_width(values, [0.0] * len(values), alpha),
                  f"scatter of its other {len(others)} rows, rounds included (too few to take them out)")
    return out


def calibration_floors(rows) -> dict:
    """``{backend: {"floor_sd", "rows"}}`` from an A/A comparison's ``(backend, log_ratio, within_se)`` rows."""
    import numpy as np

    by_backend: dict = {}
    for backend, d, se in rows:
        if math.isfinite(d):
            by_backend.setdefault(backend, []).append((d, se))
    out = {}
    for backend, values in by_backend.items():
        d, se = np.array([v[0] for v in values]), np.array([v[1] for v in values])
        out[backend] = {"floor_sd": excess_sd(float(np.sqrt(np.mean(d ** 2))), float(np.mean(se ** 2))),
                        "rows": len(values)}
    return out


def noise_path(results_dir: str | Path) -> Path:
    """``RESULTS_DIR/noise.json``: the stored floors, one entry per CPU model."""
    return Path(results_dir) / NOISE_FILE  # its name is harness.runfiles's: no run may take it


def check_floor_file(results_dir: str | Path) -> Path:
    """``RESULTS_DIR/noise.json``, if floors can be stored there; ValueError naming the problem (a folder by that
    name, a read-only file) so that a command can refuse before it measures (as
    :func:`harness.peak_store.check_peak_file` does for the roofs)."""
    path = noise_path(results_dir)
    if path.exists() and not path.is_file():
        raise ValueError(f"{path} exists and is not a file: move it away to store this machine's noise floor there")
    if path.is_file() and not os.access(path, os.W_OK):
        raise ValueError(f"{path} is not writable: the noise floor is stored there")
    return path


def load_floors(results_dir: str | Path | None, cpu_model: str | None, probe: str | None = None) -> dict | None:
    """The stored entry (``{"backends": {...}, "measured_at", ...}``) of ``cpu_model``, or None. ``probe``: the pace
    probe version of the runs to judge (``versions["probe"]``); a backend's floor stored from runs of another one
    (none recorded: version 1) is left out - their pace was another loop's, divided out of benchmark files' floor and
    of a sweep's paced one - and None where none is left (compare then says no floor of this probe is stored)."""
    if results_dir is None or not cpu_model:
        return None
    entry = read_store(noise_path(results_dir))[0].get(cpu_model)
    if not (isinstance(entry, dict) and isinstance(entry.get("backends"), dict)):
        return None
    if probe is None:
        return entry
    backends = {b: v for b, v in entry["backends"].items()
                if isinstance(v, dict) and str(v.get("probe", FIRST_PROBE)) == probe}
    return {**entry, "backends": backends} if backends else None


def save_floors(results_dir: str | Path, cpu_model: str, entry: dict) -> Path:
    """Store ``entry`` (``{"backends": {name: {...}}, ...}``) for ``cpu_model`` in ``RESULTS_DIR/noise.json``
    (atomically): its backends replace those measured before, the others stay. ValueError if it cannot."""
    path = check_floor_file(results_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = store_to_update(path, "the noise floors")
    old = stored.get(cpu_model) if isinstance(stored.get(cpu_model), dict) else {}
    backends = old.get("backends") if isinstance(old.get("backends"), dict) else {}
    stamp = {k: v for k, v in entry.items() if k != "backends"}
    backends.update({b: {**v, **stamp} for b, v in entry["backends"].items()})
    stored[cpu_model] = {**stamp, "backends": backends}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(stored, indent=2))
    tmp.replace(path)
    return path


def stale_floors(stored: dict | None, paced) -> list[str]:
    """The backends among ``paced`` (those whose passes a comparison judges with the machine's pace divided out,
    :mod:`harness.pace`) whose stored entry has no ``paced_floor_sd``: measured before the pace was."""
    entries = (stored or {}).get("backends") or {}
    return sorted(str(b) for b in paced if isinstance(entries.get(b), dict) and
                  not isinstance(entries[b].get("paced_floor_sd"), (int, float)))


def with_stored(floors: list, backends: list, stored: dict | None, z: float,
                paced=frozenset()) -> list[tuple[float, str]]:
    """Each row's ``(half-width, source)``, widened to ``z`` x the stored floor of its backend where that is wider:
    ``paced_floor_sd`` for a backend in ``paced`` (judged with the machine's pace divided out; an entry without one
    is not used, :func:`stale_floors`), ``floor_sd`` for any other."""
    entries = (stored or {}).get("backends") or {}
    out = []
    for (half, source), backend in zip(floors, backends):
        entry = entries.get(backend)
        sd = entry.get("paced_floor_sd" if backend in paced else "floor_sd") if isinstance(entry, dict) else None
        if isinstance(sd, (int, float)) and math.isfinite(sd) and z * sd > half:
            half, source = z * float(sd), f"stored A/A floor of {entry.get('measured_at', '?')}"
        out.append((half, source))
    return out
