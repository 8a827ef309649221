"""oneDNN benchdnn convolution descriptors <-> convbench layers.

A descriptor such as ``mb1ic192ih28oc64oh28kh1ph0n"googlenet_v1:inception_3a/1x1"``
is parsed the way benchdnn parses it (oneDNN ``tests/benchdnn/conv/conv_aux.cpp``:
``str2desc``; ``tests/benchdnn/common.cpp``: ``sanitize_desc``, ``print_dhw``):

- fields ``g mb ic id ih iw oc od oh ow kd kh kw sd sh sw pd ph pw dd dh dw`` in any
  order, one ``_`` allowed after a field, then ``n`` and the name (the rest of the text);
- defaults: ``mb`` 2, ``g`` 1, strides 1, dilations 0 (benchdnn counts dilation from 0);
- a spatial dimension (d, h or w) whose fields are all absent (stride 1, pad < 1) is not
  computed; an absent output is ``(i - ((k-1)*(d+1)+1) + 2p) / s + 1`` (pad 0 when absent),
  an absent pad next to a given output is ``((o-1)*s - i + ((k-1)*(d+1)+1)) / 2`` (C division);
- then w copies h when w is absent (2-D); d and h absent is 1-D (h = 1, k 1, pad 0);
- printing (the short form) writes ``g`` only when given, ``mb`` only when not 2, w fields
  only when some w field differs from h, strides only when not 1, dilations only when not 0.

convbench extensions: a trailing ``*N`` in the name is a count of N identical layers
(the convention of oneDNN's ``inputs/conv/shapes_*`` files), surrounding quotes of the
name are dropped, and a repeated field is an error (benchdnn silently keeps the last).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from kernels import ConvSpec, resolve_padding

from .layers import MAX_DIM, Layer

#: Field prefixes in the order str2desc tries them within one pass.
FIELDS = ("g", "mb", "ic", "id", "ih", "iw", "oc", "od", "oh", "ow", "kd", "kh", "kw",
          "sd", "sh", "sw", "pd", "ph", "pw", "dd", "dh", "dw")
SPATIAL = ("o", "i", "k", "s", "p", "d")
SPATIAL_DEFAULTS = {"o": 1, "i": 1, "k": 1, "s": 1, "p": 0, "d": 0}
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class Descriptor:
    """One parsed benchdnn convolution: every field resolved, plus name, count and spatial rank."""

    g: int; mb: int; ic: int; oc: int  # noqa: E702
    id: int; ih: int; iw: int; od: int; oh: int; ow: int  # noqa: E702
    kd: int; kh: int; kw: int; sd: int; sh: int; sw: int  # noqa: E702
    pd: int; ph: int; pw: int; dd: int; dh: int; dw: int  # noqa: E702
    ndims: int = 4
    has_groups: bool = False
    name: str = ""
    count: int = 1

    def __str__(self) -> str:
        """The benchdnn short form (with ``n"name*count"`` when named or counted)."""
        return self.shape_string() + (f'n"{self.name}{f"*{self.count}" if self.count > 1 else ""}"'
                                      if self.name or self.count > 1 else "")

    def shape_string(self) -> str:
        """The benchdnn short form without the name, as ``operator<<(desc_t)`` prints it."""
        cubic = all(getattr(self, f + "d") == getattr(self, f + "h") == getattr(self, f + "w") for f in SPATIAL)
        square = all(getattr(self, f + "h") == getattr(self, f + "w") for f in SPATIAL)
        show = {"d": self.ndims == 5, "h": self.ndims == 4 or (self.ndims == 5 and not cubic),
                "w": self.ndims == 3 or (self.ndims == 5 and not cubic) or (self.ndims == 4 and not square)}

        def spatial(prefix: str) -> str:
            return "".join(f"{prefix}{a}{getattr(self, prefix + a)}" for a in "dhw" if show[a])

        out = (f"g{self.g}" if self.has_groups else "") + (f"mb{self.mb}" if self.mb != 2 else "")
        out += f"ic{self.ic}" + spatial("i") + f"oc{self.oc}" + spatial("o") + spatial("k")
        if (self.sd, self.sh, self.sw) != (1, 1, 1):
            out += spatial("s")
        out += spatial("p")
        if (self.dd, self.dh, self.dw) != (0, 0, 0):
            out += spatial("d")
        return out

    @property
    def label(self) -> str:
        """The layer label: the name, or the short-form descriptor when unnamed."""
        return self.name or self.shape_string()

    def unsupported_reason(self) -> str | None:
        """Why convbench kernels cannot run this convolution, or None when they can.

        H != W is fine; groups, dilation, 3-D, non-square kernel/stride/padding, an empty
        batch and an output size that symmetric padding does not produce are not.
        """
        if self.ndims == 5:
            return "3-D convolution (id/kd/od given); kernels are 2-D"
        if self.g > 1:
            return f"grouped convolution (g={self.g}); kernels support g=1 only"
        if self.dh or self.dw:
            return f"dilated convolution (dh={self.dh}, dw={self.dw}); kernels support no dilation"
        if self.ndims == 3 and self.kw != 1:
            return f"1-D convolution (kw={self.kw}, no h fields); kernels need a square kxk kernel"
        for what, h, w in (("kernel", self.kh, self.kw), ("stride", self.sh, self.sw), ("padding", self.ph, self.pw)):
            if h != w:
                return f"non-square {what} ({what[0]}h={h}, {what[0]}w={w}); kernels need a square one"
        if self.ph < 0:
            return f"negative padding ph={self.ph} (derived from oh={self.oh})"
        if self.mb < 1:
            return f"empty batch (mb={self.mb})"
        if self.sh > max(self.ih, self.iw) + 2 * self.ph:
            return f"stride sh={self.sh} larger than the padded input ({max(self.ih, self.iw)} + 2*{self.ph})"
        for a, i, o in (("h", self.ih, self.oh), ("w", self.iw, self.ow)):
            if self.kh > i + 2 * self.ph:
                return f"kernel kh={self.kh} larger than the padded input {a} ({i} + 2*{self.ph})"

            expected = (i + 2 * self.ph - self.kh) // self.sh + 1
            if o != expected:
                return (f"o{a}={o} needs asymmetric padding: i{a}={i}, k={self.kh}, s={self.sh}, p={self.ph} "
                        f"give o{a}={expected} with symmetric padding")
        return None

    def to_layer(self) -> Layer:
        """The convbench Layer (label, N=mb, C=ic, H=ih, W=iw, F=oc, k, stride, padding, count).

        Raises ValueError with :meth:`unsupported_reason` when the kernels cannot run it.
        """
        reason = self.unsupported_reason()
        if reason:
            raise ValueError(f"descriptor {self}: {reason}")
        return Layer(self.label, C=self.ic, H=self.ih, W=self.iw, F=self.oc, k=self.kh, stride=self.sh,
                     padding=self.ph, N=self.mb, count=self.count)


def _c_div(a: int, b: int) -> int:
    """Integer division truncating toward zero, as C does."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _split_name(text: str, raw: str) -> tuple[str, int]:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        raw = raw[1:-1]
    match = re.fullmatch(r"(.*)\*(\d+)", raw, flags=re.S)
    if not match:
        return raw, 1
    if not 1 <= int(match.group(2)) <= MAX_DIM:
        raise ValueError(f"descriptor {text!r}: count '*{match.group(2)}' in the name must be >= 1 (and at most "
                         f"{MAX_DIM})")
    return match.group(1), int(match.group(2))


def _scan(text: str) -> tuple[dict[str, int], str | None]:
    values: dict[str, int] = {}
    pos, name = 0, None
    while pos < len(text):
        ok = False
        for field in FIELDS:  # one pass tries every prefix in order, like str2desc
            if text.startswith(field, pos):
                number = _NUMBER.match(text, pos + len(field))
                if not number:
                    rest = text[pos + len(field):pos + len(field) + 1]
                    problem = "must be >= 0" if rest == "-" else "has no value"
                    raise ValueError(f"descriptor {text!r}: field {field!r} {problem}")
                if field in values:
                    raise ValueError(f"descriptor {text!r}: field {field!r} given twice")
                if int(number.group()) > MAX_DIM:
                    raise ValueError(f"descriptor {text!r}: field {field!r} = {number.group()} is absurdly large "
                                     f"(at most {MAX_DIM})")
                values[field], pos, ok = int(number.group()), number.end(), True
        if text.startswith("n", pos):
            name = text[pos + 1:]
            break
        at = pos
        if text.startswith("_", pos):
            pos += 1
        if not ok:
            raise ValueError(f"descriptor {text!r}: unrecognized text starting at {text[at:]!r}")
    return values, name


def parse_descriptor(text: str) -> Descriptor:
    """Parse one benchdnn conv descriptor; malformed text raises ValueError naming it and the problem."""
    text = text.strip()
    if not text:
        raise ValueError("descriptor '': empty")
    values, raw_name = _scan(text)
    v = {f: values.get(f, 0) for f in FIELDS}
    v.update(mb=values.get("mb", 2), sd=values.get("sd", 1), sh=values.get("sh", 1), sw=values.get("sw", 1))
    for a in "dhw":
        v["p" + a] = values.get("p" + a, -1)
    has_groups = "g" in values
    v["g"] = values.get("g", 1)
    for field in ("g", "ic", "oc", "sd", "sh", "sw"):
        if v[field] <= 0:
            raise ValueError(f"descriptor {text!r}: {field!r} was not given or is 0")
    for a in "dhw":
        o, i, k, s, p, d = (v[f + a] for f in SPATIAL)
        if (i | k | o | d) == 0 and s == 1 and p < 1:
            continue  # dimension absent; filled in below
        for f in ("i" + a, "k" + a):
            if v[f] <= 0:
                raise ValueError(f"descriptor {text!r}: {f!r} was not given or is 0")
        k_eff = (k - 1) * (d + 1) + 1
        if not o:
            v["p" + a] = p = max(p, 0)
            v["o" + a] = _c_div(i - k_eff + 2 * p, s) + 1
            if v["o" + a] <= 0:
                raise ValueError(f"descriptor {text!r}: derived {'o' + a}={v['o' + a]} is not positive")
        elif p < 0:
            v["p" + a] = _c_div((o - 1) * s - i + k_eff, 2)
    no = {a: v["o" + a] == 0 for a in "dhw"}
    ndims = 5 - no["d"] - (no["d"] and no["h"]) - (no["d"] and no["h"] and no["w"])
    if ndims <= 2:
        raise ValueError(f"descriptor {text!r}: no spatial dimension given (expected ih/kh at least)")
    if ndims == 5 and no["h"] != no["w"]:
        raise ValueError(f"descriptor {text!r}: with id given, give all h and w fields or none of them")
    for f in SPATIAL:
        if ndims == 5 and no["h"]:
            v[f + "h"] = v[f + "w"] = v[f + "d"]
        elif ndims == 4 and no["w"]:
            v[f + "w"] = v[f + "h"]
        if ndims < 5:
            v[f + "d"] = SPATIAL_DEFAULTS[f]
        if ndims < 4:
            v[f + "h"] = SPATIAL_DEFAULTS[f]
    name, count = _split_name(text, raw_name) if raw_name is not None else ("", 1)
    return Descriptor(**v, ndims=ndims, has_groups=has_groups, name=name, count=count)


def format_descriptor(N: int, C: int, H: int, W: int, F: int, k: int, stride: int = 1, padding: int | str = 0,
                      name: str | None = None, count: int = 1) -> str:
    """The benchdnn short-form descriptor of a convbench convolution (``"same"`` padding resolved).

    As benchdnn prints it: ``mb`` only when N != 2, ``iw``/``ow``/``kw``/``sw``/``pw`` only when
    H != W, strides only when != 1; ``n"name*count"`` when named or counted.
    """
    spec = ConvSpec(N=N, C=C, H=H, W=W, F=F, k=k, stride=stride, padding=resolve_padding(padding, k))
    if name is not None and (re.search(r"[\s\"']", name) or not name):
        raise ValueError(f"descriptor name {name!r} must be non-empty without spaces or quotes")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"descriptor count must be an int >= 1, got {count!r}")
    p = spec.padding
    desc = Descriptor(g=1, mb=N, ic=C, oc=F, id=1, ih=H, iw=W, od=1, oh=spec.Ho, ow=spec.Wo, kd=1, kh=k, kw=k,
                      sd=1, sh=stride, sw=stride, pd=0, ph=p, pw=p, dd=0, dh=0, dw=0, name=name or "", count=count)
    return str(desc)


@dataclass(frozen=True)
class Entry:
    """One descriptor of a file: ``layer`` when runnable, else ``layer`` None and ``reason`` saying why.

    ``desc`` is the unnamed short form with ``g1`` dropped, so a runnable entry's ``desc`` equals
    :func:`format_descriptor` of its layer; ``line`` is the 1-based line number.
    """

    label: str
    desc: str
    count: int
    line: int
    layer: Layer | None
    reason: str | None


def parse_descriptor_lines(text: str, source: str = "<text>") -> list[Entry]:
    """Entries of benchdnn descriptor text: whitespace-separated descriptors, ``#`` comments to end of line.

    Errors (malformed descriptor, duplicate label, a benchdnn ``--option`` line) raise
    ValueError naming ``source`` and the line.
    """
    entries: list[Entry] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        for token in line.split():
            if token.startswith("#"):
                break
            where = f"{source}: line {number}"
            if token.startswith("--"):
                raise ValueError(f"{where}: benchdnn option {token!r}; only descriptor lines are read")
            try:
                desc = parse_descriptor(token)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
            if desc.label in seen:
                raise ValueError(f"{where}: label {desc.label!r} already used on line {seen[desc.label]}")
            seen[desc.label] = number
            reason = desc.unsupported_reason()
            short = replace(desc, name="", count=1, has_groups=desc.g != 1).shape_string()
            entries.append(Entry(desc.label, short, desc.count, number, None if reason else desc.to_layer(), reason))
    return entries


def load_descriptor_file(path: str | Path) -> list[Entry]:
    """Entries of a benchdnn descriptor file (e.g. oneDNN's ``inputs/conv/shapes_resnet_50``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read descriptor file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}): expected benchdnn "
                         "descriptor lines, or a .toml/.csv layer file") from None
    return parse_descriptor_lines(text, str(path))
