"""edgekit's architecture data for the named YOLOv9 / GELAN variants.

Written from the structure of the official ``models/detect/{yolov9,gelan}-*.yaml``
(WongKinYiu/yolov9): each variant is a dict in the same layout as a checkpoint's
``yaml`` (``[from, repeats, module, args]`` rows), generated from a few widths.

Layouts:
- t, s: stem, ELAN1, three (AConv, RepNCSPELAN4) stages; PGI adds a second neck
  (SPPELAN + top-down path) off the same backbone.
- m, c: stem, four RepNCSPELAN4 stages with AConv (m) / ADown (c); PGI puts a
  ``Silence`` at 0, and adds CBLinear taps + a second backbone fused by CBFuse.
- e: a two-backbone (CBLinear/CBFuse) composite in both forms; PGI adds a second neck.
The train-time head is ``DualDDetect([aux P3..P5, main P3..P5])``, GELAN's ``DDetect``.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Sequence, Tuple

Row = List[Any]
UP: Row = ["nn.Upsample", ["None", 2, "nearest"]]  # the official yaml spells None as a string


def _row(f: Any, module: str, args: List[Any]) -> Row:
    return [f, 1, module, copy.deepcopy(args)]


def _aux_neck(s: int, p3: int, p4: int, p5: int, spp: List[int], blocks: Sequence[List[int]]) -> List[Row]:
    """Top-down path only (PGI auxiliary neck), rows s..s+6; outputs P3=s+6, P4=s+3, P5=s."""
    return [
        _row(p5, "SPPELAN", spp),
        _row(-1, *UP),
        _row([-1, p4], "Concat", [1]),
        _row(-1, "RepNCSPELAN4", blocks[0]),
        _row(-1, *UP),
        _row([-1, p3], "Concat", [1]),
        _row(-1, "RepNCSPELAN4", blocks[1]),
    ]


def _main_neck(
    s: int,
    p3: int,
    p4: int,
    p5: int,
    spp: List[int],
    blocks: Sequence[List[int]],
    down: str,
    downs: List[int],
) -> List[Row]:
    """Top-down + bottom-up path, rows s..s+12; outputs P3=s+6, P4=s+9, P5=s+12."""
    rows = _aux_neck(s, p3, p4, p5, spp, blocks)
    rows += [
        _row(-1, down, [downs[0]]),
        _row([-1, s + 3], "Concat", [1]),
        _row(-1, "RepNCSPELAN4", blocks[2]),
        _row(-1, down, [downs[1]]),
        _row([-1, s], "Concat", [1]),
        _row(-1, "RepNCSPELAN4", blocks[3]),
    ]
    return rows


def _arch(rows: List[Row], n_backbone: int) -> Dict[str, Any]:
    return {
        "nc": 80,
        "depth_multiple": 1.0,
        "width_multiple": 1.0,
        "anchors": 3,
        "backbone": rows[:n_backbone],
        "head": rows[n_backbone:],
    }


def small_arch(w: int, pgi: bool) -> Dict[str, Any]:
    """t (w=16) and s (w=32)."""
    stages = [[4 * w, 4 * w, 2 * w, 3], [6 * w, 6 * w, 3 * w, 3], [8 * w, 8 * w, 4 * w, 3]]
    rows = [
        _row(-1, "Conv", [w, 3, 2]),
        _row(-1, "Conv", [2 * w, 3, 2]),
        _row(-1, "ELAN1", [2 * w, 2 * w, w]),
    ]
    for width, block in zip((4 * w, 6 * w, 8 * w), stages):
        rows += [_row(-1, "AConv", [width]), _row(-1, "RepNCSPELAN4", block)]
    spp = [8 * w, 4 * w]
    head_blocks = [stages[1], stages[0], stages[1], stages[2]]
    rows += _main_neck(9, 4, 6, -1, spp, head_blocks, "AConv", [3 * w, 4 * w])
    if pgi:
        rows += _aux_neck(22, 4, 6, 8, spp, head_blocks)
        rows.append(_row([28, 25, 22, 15, 18, 21], "DualDDetect", ["nc"]))
    else:
        rows.append(_row([15, 18, 21], "DDetect", ["nc"]))
    return _arch(rows, 9)


def medium_arch(
    stem: Tuple[int, int],
    blocks: List[List[int]],
    down: str,
    downs: List[int],
    spp: List[int],
    head_blocks: List[List[int]],
    head_downs: List[int],
    pgi: bool,
) -> Dict[str, Any]:
    """m and c: one backbone; PGI adds Silence + CBLinear taps + a second backbone."""

    def backbone(first_from: int) -> List[Row]:
        rows = [_row(first_from, "Conv", [stem[0], 3, 2]), _row(-1, "Conv", [stem[1], 3, 2])]
        rows.append(_row(-1, "RepNCSPELAN4", blocks[0]))
        for width, block in zip(downs, blocks[1:]):
            rows += [_row(-1, down, [width]), _row(-1, "RepNCSPELAN4", block)]
        return rows

    o = 1 if pgi else 0  # index offset of the main network
    rows = ([_row(-1, "Silence", [])] if pgi else []) + backbone(-1)
    rows += _main_neck(9 + o, 4 + o, 6 + o, -1, spp, head_blocks, down, head_downs)
    if not pgi:
        rows.append(_row([15, 18, 21], "DDetect", ["nc"]))
        return _arch(rows, 9)
    rows += [_row(src, "CBLinear", [downs[: k + 1]]) for k, src in enumerate((5, 7, 9))]  # 23-25
    second = backbone(0)  # 26-37 once the CBFuse rows are inserted
    taps = [23, 24, 25]
    for k, pos in enumerate((4, 7, 10)):  # after each down-sampling layer of the second backbone
        second.insert(pos, _row([*taps[k:], -1], "CBFuse", [[k] * (3 - k)]))
    rows += second
    rows.append(_row([31, 34, 37, 16, 19, 22], "DualDDetect", ["nc"]))
    return _arch(rows, 10)


def large_arch(pgi: bool) -> Dict[str, Any]:
    """e: two backbones fused by CBLinear/CBFuse in both forms; PGI adds a second neck."""
    widths = [64, 128, 256, 512, 1024]
    blocks = [[256, 128, 64, 2], [512, 256, 128, 2], [1024, 512, 256, 2], [1024, 512, 256, 2]]
    rows = [_row(-1, "Silence", []), _row(-1, "Conv", [64, 3, 2]), _row(-1, "Conv", [128, 3, 2])]
    rows.append(_row(-1, "RepNCSPELAN4", blocks[0]))
    for width, block in zip(widths[2:], blocks[1:]):
        rows += [_row(-1, "ADown", [width]), _row(-1, "RepNCSPELAN4", block)]
    rows += [_row(src, "CBLinear", [widths[: k + 1]]) for k, src in enumerate((1, 3, 5, 7, 9))]  # 10-14
    taps = [10, 11, 12, 13, 14]
    second: List[Row] = [_row(0, "Conv", [64, 3, 2]), None, _row(-1, "Conv", [128, 3, 2]), None]
    second.append(_row(-1, "RepNCSPELAN4", blocks[0]))
    for width, block in zip(widths[2:], blocks[1:]):
        second += [_row(-1, "ADown", [width]), None, _row(-1, "RepNCSPELAN4", block)]
    k = 0
    for pos, row in enumerate(second):
        if row is None:  # a CBFuse after each down-sampling layer
            second[pos] = _row([*taps[k:], -1], "CBFuse", [[k] * (5 - k)])
            k += 1
    rows += second  # 15-28
    spp = [512, 256]
    head_blocks = [[512, 512, 256, 2], [256, 256, 128, 2], [512, 512, 256, 2], [512, 1024, 512, 2]]
    if pgi:
        rows += _aux_neck(29, 5, 7, 9, spp, head_blocks)
        rows += _main_neck(36, 22, 25, 28, spp, head_blocks, "ADown", [256, 512])
        rows.append(_row([35, 32, 29, 42, 45, 48], "DualDDetect", ["nc"]))
    else:
        rows += _main_neck(29, 22, 25, 28, spp, head_blocks, "ADown", [256, 512])
        rows.append(_row([35, 38, 41], "DDetect", ["nc"]))
    return _arch(rows, 29)


_M = dict(
    stem=(32, 64),
    blocks=[[128, 128, 64, 1], [240, 240, 120, 1], [360, 360, 180, 1], [480, 480, 240, 1]],
    down="AConv",
    downs=[240, 360, 480],
    spp=[480, 240],
    head_blocks=[[360, 360, 180, 1], [240, 240, 120, 1], [360, 360, 180, 1], [480, 480, 240, 1]],
    head_downs=[180, 240],
)
_C = dict(
    stem=(64, 128),
    blocks=[[256, 128, 64, 1], [512, 256, 128, 1], [512, 512, 256, 1], [512, 512, 256, 1]],
    down="ADown",
    downs=[256, 512, 512],
    spp=[512, 256],
    head_blocks=[[512, 512, 256, 1], [256, 256, 128, 1], [512, 512, 256, 1], [512, 512, 256, 1]],
    head_downs=[256, 512],
)

ARCHS: Dict[str, Dict[str, Any]] = {}
for _pgi, _prefix in ((True, "yolov9"), (False, "gelan")):
    ARCHS[f"{_prefix}-t"] = small_arch(16, _pgi)
    ARCHS[f"{_prefix}-s"] = small_arch(32, _pgi)
    ARCHS[f"{_prefix}-m"] = medium_arch(**_M, pgi=_pgi)
    ARCHS[f"{_prefix}-c"] = medium_arch(**_C, pgi=_pgi)
    ARCHS[f"{_prefix}-e"] = large_arch(_pgi)

VARIANTS: Tuple[str, ...] = tuple(ARCHS)


def get_arch(name: str) -> Dict[str, Any]:
    """A fresh copy of a named variant's architecture dict (``KeyError`` if unknown)."""
    return copy.deepcopy(ARCHS[name])


def layer_rows(arch: Dict[str, Any]) -> List[Row]:
    """All rows of an architecture dict, backbone then head."""
    return list(arch["backbone"]) + list(arch["head"])
