"""Architecture dict (the official yaml layout) -> ``YoloV9Model``.

The dict has ``nc``, ``depth_multiple``, ``width_multiple``, optional ``activation`` and
``backbone`` + ``head`` lists of ``[from, repeats, module, args]`` rows. Channel and
repeat arithmetic follows the official ``parse_model`` so that state-dict keys and
shapes are identical (``model.<i>.<child>...``). Every layer carries ``i``, ``f``,
``type`` (the official class path) and ``np`` as the official layers do.
"""

from __future__ import annotations

import ast
import copy
import re
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple, Union

import torch
from torch import nn

from edgekit.errors import UnsupportedModelError
from edgekit.models.yolov9 import modules as M
from edgekit.models.yolov9.heads import HEADS, DDetect, DualDDetect, RawHeadOutput

# modules whose first arg is the output width (scaled by width_multiple) and which get c1 prepended
_CHANNEL_MODULES = {
    "Conv": M.Conv,
    "AConv": M.AConv,
    "ADown": M.ADown,
    "ELAN1": M.ELAN1,
    "RepNCSPELAN4": M.RepNCSPELAN4,
    "SPPELAN": M.SPPELAN,
}
_PASS_MODULES = {"Silence": M.Silence, "nn.Upsample": nn.Upsample, "Upsample": nn.Upsample}
_ACTIVATIONS = {
    "SiLU": nn.SiLU,
    "ReLU": nn.ReLU,
    "LeakyReLU": nn.LeakyReLU,
    "Hardswish": nn.Hardswish,
    "ReLU6": nn.ReLU6,
    "Mish": nn.Mish,
    "GELU": nn.GELU,
}
_DOWNSAMPLING = {M.AConv, M.ADown}
_INPLACE_ACTIVATIONS = (nn.Hardswish, nn.LeakyReLU, nn.ReLU, nn.ReLU6, nn.SiLU)

LayerFrom = Union[int, List[int]]


def official_type(cls: type) -> str:
    path = getattr(cls, "_official_path", None)
    return path or f"{cls.__module__}.{cls.__qualname__}"


def _parse_activation(text: str) -> nn.Module:
    """``'nn.ReLU()'`` / ``'nn.LeakyReLU(0.1)'`` -> module, without eval."""
    match = re.fullmatch(r"\s*(?:torch\.)?(?:nn\.)?(\w+)\((.*)\)\s*", text)
    if not match or match.group(1) not in _ACTIVATIONS:
        raise UnsupportedModelError(f"unsupported activation in the architecture: {text!r}")
    args = ast.literal_eval(f"({match.group(2)},)") if match.group(2).strip() else ()
    return _ACTIVATIONS[match.group(1)](*args)


def _abs_from(i: int, f: int) -> int:
    return f if f >= 0 else i + f  # -1 is the previous layer (the image for layer 0)


def _from_list(f: LayerFrom) -> List[int]:
    return [f] if isinstance(f, int) else list(f)


class YoloV9Model(nn.Module):
    """A YOLOv9 / GELAN detector rebuilt by edgekit (official attribute layout)."""

    _official_path = "models.yolo.DetectionModel"

    def __init__(self, arch: Dict[str, Any], ch: int = 3, nc: Optional[int] = None) -> None:
        super().__init__()
        self.yaml = copy.deepcopy(arch)
        self.yaml["ch"] = self.yaml.get("ch", ch)
        if nc is not None:
            self.yaml["nc"] = nc
        layers, save, strides = _parse(copy.deepcopy(self.yaml), self.yaml["ch"])
        head = layers[-1]
        head.stride = torch.tensor(
            [float(strides[_abs_from(head.i, j)]) for j in _from_list(head.f)[: head.nl]], device="cpu"
        )
        self._assemble(layers, save)

    def _assemble(self, layers: List[nn.Module], save: List[int]) -> None:
        self.model = nn.Sequential(*layers)
        self.save = save
        self.nc = int(self.yaml["nc"])
        self.names = [str(i) for i in range(self.nc)]
        self.inplace = self.yaml.get("inplace", True)
        head = self.head
        self.stride = head.stride
        self._ek_main_layers = self._needed(
            [_abs_from(head.i, _from_list(head.f)[p]) for p in head.main_positions()]
        )

    @classmethod
    def from_layers(cls, arch: Dict[str, Any], layers: Sequence[nn.Module]) -> YoloV9Model:
        """A model around already-built layers that ``arch`` describes (no weights are created).

        Each layer carries its ``i``, ``f``, ``type`` and ``np``; the head its ``stride``.
        Used by the PGI strip, which re-uses the main-branch layers of a train-time model.
        """
        model = cls.__new__(cls)
        nn.Module.__init__(model)
        model.yaml = copy.deepcopy(arch)
        layers = list(layers)
        if [layer.i for layer in layers] != list(range(len(layers))):
            raise ValueError("layers must be numbered 0..n-1 in order")
        model._assemble(layers, save_list([layer.f for layer in layers]))
        return model

    @property
    def head(self) -> DDetect:
        return self.model[-1]

    @property
    def pgi(self) -> bool:
        """True for a train-time model whose head carries the PGI auxiliary branch."""
        return isinstance(self.head, DualDDetect)

    def _needed(self, outputs: List[int]) -> Set[int]:
        needed: Set[int] = set()
        stack = [o for o in outputs if o >= 0]
        while stack:
            i = stack.pop()
            if i in needed:
                continue
            needed.add(i)
            stack.extend(j for j in (_abs_from(i, f) for f in _from_list(self.model[i].f)) if j >= 0)
        return needed

    def _features(self, x: torch.Tensor, needed: Optional[Set[int]]) -> Dict[int, Any]:
        y: Dict[int, Any] = {-1: x}
        for m in self.model[:-1]:
            if needed is not None and m.i not in needed:
                continue
            src = [y[_abs_from(m.i, f)] for f in _from_list(m.f)]
            y[m.i] = m(src[0] if isinstance(m.f, int) else src)
        return y

    def forward(self, x: torch.Tensor) -> RawHeadOutput:
        """Raw main-head output; layers only the PGI auxiliary branch needs are skipped."""
        y = self._features(x, self._ek_main_layers)
        head = self.head
        f = _from_list(head.f)
        return head.forward_main([y[_abs_from(head.i, f[p])] for p in head.main_positions()])

    def forward_all(self, x: torch.Tensor) -> Dict[str, RawHeadOutput]:
        """Raw output of every head branch: ``{"main": ..., "aux": ...}`` (aux for PGI models)."""
        y = self._features(x, None)
        head = self.head
        return head.branches([y[_abs_from(head.i, f)] for f in _from_list(head.f)])


def save_list(froms: Sequence[LayerFrom]) -> List[int]:
    """The official ``save`` list: every layer read other than as ``-1`` (sorted, repeats kept)."""
    return sorted(x % i for i, f in enumerate(froms) for x in _from_list(f) if x != -1)


def _parse(d: Dict[str, Any], ch_in: int) -> Tuple[List[nn.Module], List[int], Dict[int, float]]:
    """The official ``parse_model``: layers, the save list and each layer's stride."""
    nc, gd, gw = d["nc"], d.get("depth_multiple", 1.0), d.get("width_multiple", 1.0)
    anchors = d.get("anchors", 3)
    na = len(anchors[0]) // 2 if isinstance(anchors, list) else anchors
    no = na * (nc + 5)
    act = _parse_activation(d["activation"]) if d.get("activation") else None
    layers: List[nn.Module] = []
    ch: List[Any] = [ch_in]
    strides: Dict[int, float] = {-1: 1.0}
    rows = list(d["backbone"]) + list(d["head"])
    for i, (f, n, name, args) in enumerate(rows):
        names = {"nc": nc, "anchors": anchors, "None": None, "True": True, "False": False}
        args = [names.get(a, a) if isinstance(a, str) else a for a in args]
        n = max(round(n * gd), 1) if n > 1 else n
        src = [_abs_from(i, j) for j in _from_list(f)]
        stride = strides[src[-1] if name == "CBFuse" else src[0]]
        if name in _CHANNEL_MODULES:
            cls = _CHANNEL_MODULES[name]
            c1, c2 = ch[f], args[0]
            if c2 != no:
                c2 = M.make_divisible(c2 * gw, 8)
            args = [c1, c2, *args[1:]]
            if cls in _DOWNSAMPLING:
                stride *= 2
            elif cls is M.Conv:
                stride *= args[3] if len(args) > 3 else 1
        elif name == "Concat":
            cls, c2 = M.Concat, sum(ch[x] for x in f)
        elif name == "CBLinear":
            cls, c2 = M.CBLinear, args[0]
            args = [ch[f], c2, *args[1:]]
        elif name == "CBFuse":
            cls, c2 = M.CBFuse, ch[f[-1]]
        elif name in HEADS:
            cls, c2 = HEADS[name], None
            args = [*args, [ch[x] for x in f]]
        elif name in _PASS_MODULES:
            cls, c2 = _PASS_MODULES[name], ch[f]
            if cls is nn.Upsample:
                stride /= float(args[1] if len(args) > 1 else args[0]["scale_factor"])
        else:
            raise UnsupportedModelError(f"layer {i}: module '{name}' is not part of the YOLOv9 family")
        m = nn.Sequential(*(cls(*args) for _ in range(n))) if n > 1 else cls(*args)
        m.i, m.f, m.type = i, f, official_type(cls)
        m.np = sum(p.numel() for p in m.parameters())
        layers.append(m)
        if i == 0:
            ch = []
        ch.append(c2)
        strides[i] = stride
    if not isinstance(layers[-1], DDetect):
        raise UnsupportedModelError(
            "the last layer is not a YOLOv9 detection head (DDetect, DualDDetect, ...)"
        )
    if act is not None:
        _replace_activation(layers, act)
    _inplace_activations(layers)
    return layers, save_list([layer.f for layer in layers]), strides


def _inplace_activations(layers: List[nn.Module]) -> None:
    """As the official ``initialize_weights()``: the listed activations run in place."""
    for layer in layers:
        for module in layer.modules():
            if type(module) in _INPLACE_ACTIVATIONS:
                module.inplace = True


def _replace_activation(layers: List[nn.Module], act: nn.Module) -> None:
    """The official parser swaps the default SiLU of every Conv/RepConvN for ``activation``."""
    for layer in layers:
        for module in layer.modules():
            if isinstance(module, (M.Conv, M.RepConvN)) and isinstance(module.act, nn.SiLU):
                module.act = copy.deepcopy(act)


def build_model(arch: Dict[str, Any], nc: Optional[int] = None, ch: int = 3) -> YoloV9Model:
    """Build an untrained model from an architecture dict (a checkpoint's ``yaml`` or ``archs``)."""
    return YoloV9Model(arch, ch=ch, nc=nc)
