"""The engine called directly, as the API and calibrate call it: settings in, run files out, no parser."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import kernels
from harness.commands.sweep import execute
from harness.errors import UsageError
from harness.results import RUN_SCHEMA_VERSION
from harness.settings import RunOptions, SweepSettings

LAYER = str(Path(__file__).parent / "data" / "one_layer.toml")


def settings(**kw) -> SweepSettings:
    return SweepSettings(**{**dict(layers=LAYER, backends=["numpy"], budget_s=0.05, repeats=1, settle_s=0.0), **kw})


def options(results_dir, **kw) -> RunOptions:
    return RunOptions(**{**dict(results_dir=str(results_dir), plots_dir=str(results_dir / "p"), plots=False,
                                report=False, quiet=True), **kw})


def test_the_run_records_its_schema_and_its_wall_time_from_when_it_was_started(results_dir):
    started = time.time() - 30.0  # as a CLI process that spent 30 s starting up
    files = execute(settings(in_process=True), options(results_dir, run_id="w", started_at=started))
    meta = json.loads(files.metadata.read_text())
    assert meta["schema_version"] == RUN_SCHEMA_VERSION and meta["status"] == "complete"
    assert 30.0 <= meta["wall_s"] < 30.0 + 600


@pytest.mark.skipif(kernels.get_backend("torch").unavailable_reason() is not None, reason="torch does not import")
def test_versions_come_from_where_the_kernels_ran(results_dir):
    files = execute(settings(backends=["torch"]), options(results_dir, run_id="v"))  # torch runs in its worker
    versions = json.loads(files.metadata.read_text())["versions"]
    assert versions["torch"] and versions["onednn"] and versions["numba"]
    assert any(key.endswith("_core_type") or key in ("openblas", "mkl") for key in versions)


def test_bad_settings_are_usage_errors_before_any_file(tmp_path):
    for bad, message in ((dict(repeats=0), "repeats must be between 1 and 1000"),
                         (dict(backends=["cudnn"]), "unknown backend"), (dict(clock="cpu"), "clock must be one of"),
                         (dict(baseline="cudnn"), "unknown baseline 'cudnn'"),
                         (dict(layers=None, preset="vgg"), "unknown preset 'vgg'")):
        with pytest.raises(UsageError, match=message):
            execute(settings(**bad), options(tmp_path / "r"))
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").iterdir())
    assert issubclass(UsageError, ValueError)  # what harness.sweep() callers catch
