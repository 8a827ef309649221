"""Formatting shared by every view (terminal, figures, HTML, Markdown): numbers, seconds, machine names, escaping."""
from __future__ import annotations

import math
import re


def is_missing(value) -> bool:
    """True for None and NaN (how pandas reads an empty cell)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_value(value, spec: str) -> str:
    """``format(value, spec)``, or "" for a missing value."""
    return "" if is_missing(value) else format(value, spec)


def fmt_seconds(value) -> str:
    """A duration in the unit that reads best: "1.23 ms" below a second, "4.5 s" above; "" when missing."""
    if is_missing(value):
        return ""
    if float(f"{value:.3g}") < 1e-3:  # by the value as printed: 999.7e-6 s reads "1 ms", not "1e+03 us"
        return f"{value * 1e6:.3g} us"
    return f"{value * 1e3:.3g} ms" if float(f"{value:.3g}") < 1 else f"{value:.3g} s"


def fmt_ratio(value) -> str:
    """A saving or speedup as it reads best: "5.8" (1 decimal), "0.04" (2 significant digits below 1), "1850"
    (no decimals from 100); "" when missing. A ratio of 0.04 must not print as "0.0"."""
    if is_missing(value):
        return ""
    if abs(float(f"{value:.1f}")) >= 100:  # by the value as printed: 99.96 reads "100", not "100.0"
        return f"{value:.0f}"
    return f"{value:.1f}" if abs(value) >= 1 else f"{value:.2g}"


def fmt_count(value: float, unit: str = "") -> str:
    """A large count with an SI prefix: 1.47e9 -> "1.47 G", 6640 -> "6.64 k" (3 significant digits)."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".rstrip()


def machine_name(meta: dict) -> str:
    """CPU model (and GPU) with the host name, as figures and pages name the machine of a run."""
    machine = meta.get("cpu_model") or "unknown machine"
    if meta.get("gpu"):
        machine = f"{meta['gpu'].get('name')} / {machine}"
    return f"{machine} ({meta.get('host', '?')})"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|$])")


def md_escape(text) -> str:
    """``text`` as literal Markdown table text: special characters backslash-escaped, newlines as spaces."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))
