"""The documentation: the site builds with warnings as errors, and the README keeps the shape a newcomer relies on.

``mkdocs build --strict`` fails on a dead link or anchor, a page left out of the navigation, a
figure or example page that moved, and an API reference entry whose module or function was renamed.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def quickstart_lines(readme: str) -> list[str]:
    """The non-empty lines of the first code block under ``## Quickstart``."""
    section = readme.split("\n## Quickstart", 1)[1]
    block = re.search(r"```[^\n]*\n(.*?)```", section, re.S)
    return [line for line in block.group(1).splitlines() if line.strip()] if block else []


def test_the_site_builds_strict(tmp_path):
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(site)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    api = (site / "api" / "index.html").read_text()
    for name in ("harness.api.sweep", "harness.api.load", "harness.api.compare", "harness.api.Run",
                 "kernels.conv2d", "conv2d_chain", "list_backends", "get_backend", "ConvSpec"):
        assert name in api, name
    assert (site / "gallery" / "example" / "index.html").is_file()  # the committed pages, served as they are
    assert (site / "gallery" / "example" / "reduction.png").read_bytes()[:4] == b"\x89PNG"


def test_readme_is_short_with_a_two_line_quickstart_that_ci_runs():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 300
    lines = quickstart_lines(readme)
    assert len(lines) == 2, lines
    assert "python -m harness sweep" in lines[0] and "pytest" in lines[1]
    assert lines[1] in (ROOT / ".ci" / "run").read_text()  # CI runs the newcomer's test line verbatim
