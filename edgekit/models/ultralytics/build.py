"""Build an Ultralytics detection, segment, pose or OBB model from its architecture dict (the ``yaml``).

Same semantics as Ultralytics' ``parse_model`` (``nn/tasks.py``): ``scales`` / ``scale``
(depth, width, max_channels), ``depth_multiple`` / ``width_multiple``, repeats folded into
CSP blocks, channel rounding to multiples of 8, C3k2's ``c3k`` forced on for m/l/x scales,
A2C2f's residual on for l/x, the ``legacy`` class branch of the Detect-style heads for yamls
without C3k2/A2C2f/C2fCIB, the width-scaled prototype channels of Segment heads, and the
activated SPPF ``cv1`` of legacy yaml rows. Each layer carries ``f`` (from), ``i`` (index) and
``type`` like Ultralytics' layers.
"""

from __future__ import annotations

import ast
import copy
import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from edgekit.errors import UnsupportedModelError
from edgekit.models.detr import cxcywh_to_pixels
from edgekit.models.ultralytics import attention, blocks, conv, gelan, hgnet
from edgekit.models.ultralytics.head import Detect, RawLevels, v10Detect
from edgekit.models.ultralytics.rtdetr import RTDETRDecoder
from edgekit.models.ultralytics.task_heads import TASK_HEADS, TaskLevels

From = Union[int, List[int]]

#: layers whose first arg is the output width (scaled) and whose input width is prepended
BASE_MODULES: Dict[str, Callable[..., nn.Module]] = {
    "Conv": conv.Conv,
    "DWConv": conv.DWConv,
    "Bottleneck": blocks.Bottleneck,
    "SPPF": blocks.SPPF,
    "C2f": blocks.C2f,
    "C3": blocks.C3,
    "C3k2": blocks.C3k2,
    "C2PSA": attention.C2PSA,
    "PSA": attention.PSA,
    "SCDown": blocks.SCDown,
    "C2fCIB": blocks.C2fCIB,
    "A2C2f": attention.A2C2f,
    "RepNCSPELAN4": gelan.RepNCSPELAN4,
    "ELAN1": gelan.ELAN1,
    "ADown": gelan.ADown,
    "AConv": gelan.AConv,
    "SPPELAN": gelan.SPPELAN,
    "RepC3": hgnet.RepC3,
}
#: base modules that take the (depth-scaled) repeat count as their third argument
REPEAT_MODULES = frozenset({"C2f", "C3", "C3k2", "C2PSA", "C2fCIB", "A2C2f", "RepC3"})
OTHER_MODULES: Dict[str, Callable[..., nn.Module]] = {
    "Concat": conv.Concat,
    "nn.Upsample": nn.Upsample,
    "nn.Identity": nn.Identity,
    "CBLinear": gelan.CBLinear,
    "CBFuse": gelan.CBFuse,
    "Detect": Detect,
    "v10Detect": v10Detect,
    **TASK_HEADS,
    "HGStem": hgnet.HGStem,
    "HGBlock": hgnet.HGBlock,
    "ResNetLayer": hgnet.ResNetLayer,
    "AIFI": hgnet.AIFI,
    "RTDETRDecoder": RTDETRDecoder,
}
#: heads built as ``(*yaml args, reg_max, end2end, input widths)`` with the ``legacy`` class branch flag
HEADS = frozenset({"Detect", *TASK_HEADS})
SUPPORTED_MODULES = tuple(sorted([*BASE_MODULES, *OTHER_MODULES]))


def scaled_width(c2: float, width: float, max_channels: float) -> int:
    """Ultralytics' ``make_divisible(min(c2, max_channels) * width, 8)``."""
    return math.ceil(min(c2, max_channels) * width / 8) * 8


def _resolve(arg: Any, names: Dict[str, Any]) -> Any:
    """A yaml string argument: a known name (``nc``) or a Python literal; else the string itself."""
    if not isinstance(arg, str):
        return arg
    if arg in names:
        return names[arg]
    try:
        return ast.literal_eval(arg)
    except (ValueError, SyntaxError):
        return arg


def model_scale(d: Dict[str, Any]) -> Tuple[str, float, float, float]:
    """(scale, depth, width, max_channels) of an architecture dict."""
    scales = d.get("scales")
    scale = d.get("scale") or ""
    depth, width = float(d.get("depth_multiple", 1.0)), float(d.get("width_multiple", 1.0))
    max_channels = float("inf")
    if scales:
        if not scale or scale not in scales:
            if scale:
                raise UnsupportedModelError(f"model scale '{scale}' is not one of {', '.join(scales)}")
            scale = next(iter(scales))  # what Ultralytics does (with a warning)
        depth, width, max_channels = (float(v) for v in scales[scale])
    return scale, depth, width, max_channels


def _other_args(m: str, args: List[Any], f: Any, chs: List[int], d: Dict[str, Any]) -> Tuple[List[Any], int]:
    """Constructor arguments and output channels of a layer that is not a scaled conv block."""
    if m == "Concat":
        return args, sum(chs[x] for x in f)
    if m in HEADS:
        args = [*args, d["reg_max"], d["end2end"], [chs[x] for x in f]]
        if m == "Detect":
            args = [args[0], *args[-3:]]  # yaml rows may carry Ultralytics' own extra args
        elif m in ("Segment", "Segment26"):  # the prototype width scales like a layer width
            args[2] = scaled_width(args[2], *d["width"])
        elif m in ("Pose", "Pose26") and not isinstance(args[1], (list, tuple)):
            raise UnsupportedModelError(f"a {m} head needs the yaml's kpt_shape, e.g. [17, 3]")
        return args, 0
    if m == "v10Detect":
        return [*args[:1], [chs[x] for x in f]], 0
    if m == "RTDETRDecoder":
        return [args[0], [chs[x] for x in f], *args[1:]], 0
    if m in ("HGStem", "HGBlock"):  # (c1, cm, c2, ...), widths as written (no width scaling)
        return [chs[f], *args], args[1]
    if m == "ResNetLayer":  # (c1, c2, s, is_first, n) as written; a stage outputs 4 x c2
        return args, args[1] if args[3] else args[1] * 4
    if m == "AIFI":
        return [chs[f], *args], chs[f]
    if m == "CBLinear":
        return [chs[f], args[0], *args[1:]], args[0]
    if m == "CBFuse":
        return args, chs[f[-1]]
    return args, chs[f]


def parse_model(d: Dict[str, Any], ch: int = 3) -> Tuple[nn.Sequential, List[int]]:
    """Architecture dict -> (Sequential of layers with ``f``/``i``/``type``, sorted save list)."""
    d = copy.deepcopy(d)
    nc = int(d["nc"])
    reg_max = int(d.get("reg_max", 16))
    end2end = bool(d.get("end2end") or False)
    scale, depth, width, max_channels = model_scale(d)
    act = conv.parse_activation(d["activation"]) if d.get("activation") else None
    names = {"nc": nc, "reg_max": reg_max, "end2end": end2end, "kpt_shape": d.get("kpt_shape")}
    head_args = {"reg_max": reg_max, "end2end": end2end, "width": (width, max_channels)}
    legacy = True
    chs: List[int] = [ch]
    layers: List[nn.Module] = []
    save: List[int] = []
    with conv.default_activation(act):
        for i, (f, n, m, args) in enumerate(d["backbone"] + d["head"]):
            if m not in BASE_MODULES and m not in OTHER_MODULES:
                raise UnsupportedModelError(
                    f"layer {i}: module '{m}' is not supported by edgekit's Ultralytics family "
                    f"(supported: {', '.join(SUPPORTED_MODULES)})"
                )
            args = [_resolve(a, names) for a in args]
            n = max(round(n * depth), 1) if n > 1 else n
            if m in BASE_MODULES:
                c1, c2 = chs[f], scaled_width(args[0], width, max_channels)
                args = [c1, c2, *args[1:]]
                if m in REPEAT_MODULES:
                    args.insert(2, n)
                    n = 1
                if m == "C3k2":
                    legacy = False
                    if scale in ("m", "l", "x"):
                        args[3:4] = [True]
                elif m == "A2C2f":
                    legacy = False
                    if scale in ("l", "x"):
                        args.extend((True, 1.2))
                elif m == "C2fCIB":
                    legacy = False
            else:
                args, c2 = _other_args(m, args, f, chs, head_args)
                if m == "HGBlock":  # the repeat count is the block's n (its number of convs)
                    args.insert(4, n)
                    n = 1
            kwargs = {"legacy": legacy} if m in HEADS else {}
            factory = BASE_MODULES.get(m) or OTHER_MODULES[m]
            mods = [factory(*args, **kwargs) for _ in range(n)]
            if m == "SPPF" and len(args) <= 3:  # legacy yaml rows predate YOLO26's unactivated SPPF cv1
                for block in mods:
                    block.cv1.act = conv._act(True)
            layer = nn.Sequential(*mods) if n > 1 else mods[0]
            layer.i, layer.f, layer.type = i, f, m
            save.extend(x % i for x in ([f] if isinstance(f, int) else f) if x != -1)
            layers.append(layer)
            if i == 0:
                chs = []
            chs.append(c2)
    return nn.Sequential(*layers), sorted(save)


class UltralyticsModel(nn.Module):
    """An Ultralytics model rebuilt by edgekit; keys ``model.<i>.*`` as in the checkpoint.

    ``forward`` returns the raw head output ``(box_levels, cls_levels)``, and for segment / pose /
    OBB heads a third element, the task's raw tensors (see ``edgekit.contract.model``).
    """

    def __init__(self, cfg: Dict[str, Any], ch: int = 3, stride: Optional[Sequence[float]] = None) -> None:
        super().__init__()
        self.yaml = copy.deepcopy(cfg)
        self.model, self.save = parse_model(self.yaml, ch)
        self.nc = int(self.yaml["nc"])
        self.names: List[str] = [str(i) for i in range(self.nc)]
        if stride is None:
            stride = self._probe_strides(ch)
        self.stride = torch.tensor([float(s) for s in stride], device="cpu")
        self.head.stride = self.stride.clone()

    @property
    def head(self) -> Detect:
        head = self.model[-1]
        if not isinstance(head, Detect):
            raise UnsupportedModelError(f"the last layer is {type(head).__name__}, not a Detect head")
        return head

    @property
    def task(self) -> str:
        """What the head predicts: a value of ``edgekit.vocab.TASKS``."""
        return self.head.task

    @property
    def reg_max(self) -> int:
        return self.head.reg_max

    @property
    def end2end(self) -> bool:
        """True when the forward returns the NMS-free one-to-one branch."""
        return self.head.uses_one2one

    @end2end.setter
    def end2end(self, value: bool) -> None:
        if value and not self.head.has_one2one:
            raise ValueError("this model has no one-to-one (NMS-free) head")
        if not value and not self.head.has_one2many:
            raise ValueError("the one-to-many (NMS) head branch was removed by reparameterization")
        self.head.end2end = bool(value)

    def _probe_strides(self, ch: int, size: int = 64) -> List[float]:
        was_training = self.training
        self.eval()
        with torch.no_grad():
            boxes = self(torch.zeros(1, ch, size, size))[0]
        self.train(was_training)
        return [size / t.shape[-2] for t in boxes]

    def forward(self, x: torch.Tensor) -> Union[RawLevels, TaskLevels]:
        outputs: List[Any] = []
        for m in self.model:
            if m.f != -1:
                x = outputs[m.f] if isinstance(m.f, int) else [x if j == -1 else outputs[j] for j in m.f]
            x = m(x)
            outputs.append(x if m.i in self.save else None)
        return x


class RTDETRModel(UltralyticsModel):
    """An Ultralytics RT-DETR rebuilt by edgekit (keys ``model.<i>.*`` as in the checkpoint).

    ``forward`` returns the query head's raw convention (``edgekit.contract.model``): per query a box
    ``(B, Q, 4)`` x1, y1, x2, y2 in input pixels and class logits ``(B, Q, nc)``.
    :meth:`query_outputs` returns what Ultralytics' decoder returns (boxes as normalized cx, cy, w, h).
    """

    def __init__(self, cfg: Dict[str, Any], ch: int = 3) -> None:
        nn.Module.__init__(self)
        self.yaml = copy.deepcopy(cfg)
        self.model, self.save = parse_model(self.yaml, ch)
        self.nc = int(self.yaml["nc"])
        self.names = [str(i) for i in range(self.nc)]
        self.stride = torch.tensor([32.0])  # the input must be a multiple of the deepest level's stride

    @property
    def head(self) -> RTDETRDecoder:  # type: ignore[override]
        head = self.model[-1]
        if not isinstance(head, RTDETRDecoder):
            raise UnsupportedModelError(f"the last layer is {type(head).__name__}, not an RTDETRDecoder")
        return head

    @property
    def task(self) -> str:
        return "detect"

    @property
    def end2end(self) -> bool:  # type: ignore[override]
        return True  # one query per object: no NMS

    def query_outputs(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The decoder's outputs of its evaluation layer: normalized cxcywh boxes, class logits."""
        return super().forward(x)  # type: ignore[return-value]

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        boxes, logits = self.query_outputs(x)
        return cxcywh_to_pixels(boxes, x), logits
