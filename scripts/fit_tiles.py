"""Fit the numba-cuda tile model (:class:`kernels.numba_cuda.tiles.Model`) to a GPU's measured variants.

``scripts/gpu_variants.py`` times every (tile, split) that :func:`kernels.numba_cuda.tiles.candidates` offers on
every layer; this script finds the model constants whose pick (:func:`~kernels.numba_cuda.tiles.cost`'s least)
comes closest to the fastest measured variant of each layer, by coordinate descent from the current defaults
(each constant scaled by factors from 0.5 to 2, kept while the regret falls). The regret of a model is the
geometric mean over layers of (time of its pick) / (time of the layer's fastest variant): 1.0 picks the best
everywhere.

    PYTHONPATH=. python scripts/fit_tiles.py DIR/variants.csv [--write DIR/tile_model.json]

Prints the regret of the defaults and of the fit, the share of layers whose pick is within 5% of the best,
and the fitted ``Model(...)`` to paste into ``kernels/numba_cuda/tiles.py``; ``--write`` saves it as JSON,
which ``CONVBENCH_TILE_MODEL=FILE`` makes numba-cuda use (``scripts/gpu_check.sh`` sweeps with it).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kernels.numba_cuda.tiles import DEFAULT_MODEL, GPU_TILES, Choice, Model, cost, model_to_json  # noqa: E402

#: Factors each constant is tried at, per round of the descent.
STEPS = (0.5, 0.7, 0.85, 1.2, 1.4, 2.0)
#: A pick this close to the best counts as a hit.
HIT_RATIO = 1.05


#: The columns of a variants table this script reads.
NEEDED = ("layer", "N", "F", "K", "columns", "sms", "variant", "tile", "splits", "time_s")


def usable_rows(table: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """(the candidate rows that can be read, how many candidate rows could not): rows with a tile this version
    does not ship, a size that is not a whole number >= 1 or a time that is not a positive, finite number of
    seconds - a run cut mid-row leaves one - are dropped. ValueError naming missing columns."""
    missing = [name for name in NEEDED if name not in table.columns]
    if missing:
        raise ValueError(f"not a variants table of scripts/gpu_variants.py: no column(s) {', '.join(missing)}")
    rows = table[table["variant"] == "candidate"]
    sizes = rows[["N", "F", "K", "columns", "sms", "splits"]].apply(pd.to_numeric, errors="coerce")
    times = pd.to_numeric(rows["time_s"], errors="coerce")
    ok = (rows["tile"].isin([tile.name for tile in GPU_TILES]) & (sizes >= 1).all(axis=1)
          & (sizes == sizes.round()).all(axis=1) & (times > 0) & (times < float("inf")))
    return rows[ok], int((~ok).sum())


def layers_of(table: pd.DataFrame) -> list[tuple[dict, dict]]:
    """[(shape, {Choice: seconds})] per layer and batch, from the ``candidate`` rows of a variants table."""
    tiles = {tile.name: tile for tile in GPU_TILES}
    found = []
    for _, rows in usable_rows(table)[0].groupby(["layer", "N"], sort=False):
        first = rows.iloc[0]
        shape = dict(filters=int(first["F"]), columns=int(first["columns"]), sms=int(first["sms"]))
        times = {}
        for _, row in rows.iterrows():
            tile = tiles[row["tile"]]
            k_per = math.ceil(math.ceil(int(row["K"]) / int(row["splits"])) / tile.bk) * tile.bk
            times[Choice(tile, int(row["splits"]), k_per)] = float(row["time_s"])
        found.append((shape, times))
    return found


def regret(model: Model, layers) -> tuple[float, float]:
    """(geometric mean of pick time / best time, share of layers whose pick is within HIT_RATIO of the best)."""
    logs, hits = [], 0
    for shape, times in layers:
        pick = min(times, key=lambda choice: cost(choice, shape["filters"], shape["columns"], shape["sms"], model))
        ratio = times[pick] / min(times.values())
        logs.append(math.log(ratio))
        hits += ratio <= HIT_RATIO
    return math.exp(sum(logs) / len(logs)), hits / len(layers)


def scaled(model: Model, name, factor: float) -> Model:
    """``model`` with one constant (a field name, or a (tm, tn) efficiency) multiplied by ``factor``."""
    if isinstance(name, tuple):
        table = tuple((tm, tn, min(1.0, e * factor) if (tm, tn) == name else e) for tm, tn, e in model.efficiency)
        return dataclasses.replace(model, efficiency=table)
    return dataclasses.replace(model, **{name: getattr(model, name) * factor})


def fit(layers, model: Model = DEFAULT_MODEL, rounds: int = 20) -> Model:
    """Coordinate descent of :func:`regret` from ``model``."""
    names = [(tm, tn) for tm, tn, _ in model.efficiency] + \
        ["saturating_threads", "round_overhead", "split_overhead", "atomic_cost"]
    best = regret(model, layers)[0]
    for _ in range(rounds):
        improved = False
        for name in names:
            for factor in STEPS:
                trial = scaled(model, name, factor)
                value = regret(trial, layers)[0]
                if value < best - 1e-9:
                    model, best, improved = trial, value, True
        if not improved:
            break
    return model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", type=Path, help="variants.csv written by scripts/gpu_variants.py")
    parser.add_argument("--write", type=Path, help="save the fitted model here, as JSON")
    args = parser.parse_args(argv)
    if not args.variants.is_file():
        parser.error(f"{args.variants}: {'not a file' if args.variants.exists() else 'no such file'}")
    if args.write and (args.write.is_dir() or not args.write.parent.is_dir()):
        parser.error(f"--write {args.write}: {'a folder' if args.write.is_dir() else 'its folder does not exist'}")
    try:
        table = pd.read_csv(args.variants)
        rows, dropped = usable_rows(table)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:  # EmptyDataError is a ValueError
        parser.error(f"{args.variants}: {exc}")
    if dropped:
        print(f"{args.variants}: left out {dropped} candidate row(s) that cannot be read (unknown tile, "
              "bad size or time)", file=sys.stderr)
    layers = layers_of(rows)
    if not layers:
        parser.error(f"{args.variants}: no candidate rows to fit")
    fitted = fit(layers)
    for label, model in (("defaults", DEFAULT_MODEL), ("fitted", fitted)):
        value, hits = regret(model, layers)
        print(f"{label}: pick / best geomean {value:.3f}, within {HIT_RATIO - 1:.0%} of the best on {hits:.0%} "
              f"of {len(layers)} layers")
    print(fitted)
    if args.write:
        args.write.write_text(model_to_json(fitted) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
