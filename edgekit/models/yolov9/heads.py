"""Detection heads of the YOLOv9 family (``models/yolo.py``: DDetect, DualDDetect, ...).

Per level a box branch (3x3 Conv, 3x3 Conv, 1x1 conv to ``4 * reg_max``) and a class
branch (3x3 Conv, 3x3 Conv, 1x1 conv to ``nc``). The ``D`` heads group the second and
third box convs by 4. ``Dual`` heads carry two branch sets: ``cv2/cv3/dfl`` read the
first ``nl`` inputs (the PGI auxiliary branch) and ``cv4/cv5/dfl2`` the last ``nl``
inputs (the main branch, the one kept for deployment).

``forward`` returns edgekit's raw convention for the MAIN branch only:
``(box_levels, cls_levels)`` with ``(B, 4 * reg_max, H, W)`` and ``(B, nc, H, W)`` logits.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import torch
from torch import nn

from edgekit.models.yolov9.modules import DFL, REG_MAX, Conv, make_divisible

RawHeadOutput = Tuple[List[torch.Tensor], List[torch.Tensor]]


def _box_branch(c_in: int, c_mid: int, groups: int) -> nn.Sequential:
    return nn.Sequential(
        Conv(c_in, c_mid, 3), Conv(c_mid, c_mid, 3, g=groups), nn.Conv2d(c_mid, 4 * REG_MAX, 1, groups=groups)
    )


def _cls_branch(c_in: int, c_mid: int, nc: int) -> nn.Sequential:
    return nn.Sequential(Conv(c_in, c_mid, 3), Conv(c_mid, c_mid, 3), nn.Conv2d(c_mid, nc, 1))


class DDetect(nn.Module):
    """Single-branch DFL head (GELAN inference models)."""

    _official_path = "models.yolo.DDetect"
    _ek_sets = 1  # branch sets: 1 = single head, 2 = dual (aux + main)
    _ek_box_groups = 4

    def __init__(self, nc: int = 80, ch: Sequence[int] = (), inplace: bool = True) -> None:
        super().__init__()
        self._init_attributes(nc, len(ch) // self._ek_sets, inplace)
        c2, c3 = self._widths(ch[0])
        self.cv2 = nn.ModuleList(_box_branch(x, c2, self._ek_box_groups) for x in ch[: self.nl])
        self.cv3 = nn.ModuleList(_cls_branch(x, c3, nc) for x in ch[: self.nl])
        self.dfl = DFL(self.reg_max)

    def _init_attributes(self, nc: int, nl: int, inplace: bool) -> None:
        self.nc = nc
        self.nl = nl
        self.reg_max = REG_MAX
        self.no = nc + self.reg_max * 4
        self.inplace = inplace
        self.stride = torch.zeros(self.nl, device="cpu")  # a plain attribute, as official (not a buffer)

    def _widths(self, c: int) -> Tuple[int, int]:
        c_box = max(c // 4, self.reg_max * 4, 16)
        if self._ek_box_groups > 1:
            c_box = make_divisible(c_box, 4)
        return c_box, max(c, min(self.nc * 2, 128))

    @staticmethod
    def _run(feats: Sequence[torch.Tensor], box: nn.ModuleList, cls: nn.ModuleList) -> RawHeadOutput:
        return [b(x) for b, x in zip(box, feats)], [c(x) for c, x in zip(cls, feats)]

    def main_positions(self) -> List[int]:
        """Positions, within the layer's ``from`` list, of the inputs the main branch reads."""
        return list(range((self._ek_sets - 1) * self.nl, self._ek_sets * self.nl))

    def forward_main(self, feats: Sequence[torch.Tensor]) -> RawHeadOutput:
        """Raw main-branch output from the main inputs only (P3..P5)."""
        return self._run(feats, self.cv2, self.cv3)

    def branches(self, feats: Sequence[torch.Tensor]) -> Dict[str, RawHeadOutput]:
        """Raw output of every branch set from the full input list: ``{"main": ...}``."""
        return {"main": self.forward_main(feats)}

    def forward(self, feats: Sequence[torch.Tensor]) -> RawHeadOutput:
        return self.forward_main([feats[p] for p in self.main_positions()])


class DualDDetect(DDetect):
    """PGI training head: auxiliary ``cv2/cv3/dfl`` + main ``cv4/cv5/dfl2``."""

    _official_path = "models.yolo.DualDDetect"
    _ek_sets = 2

    def __init__(self, nc: int = 80, ch: Sequence[int] = (), inplace: bool = True) -> None:
        super().__init__(nc, ch, inplace)
        dfl = self._modules.pop("dfl")  # re-added below: child order as official (cv2..cv5, dfl, dfl2)
        c4, c5 = self._widths(ch[self.nl])
        self.cv4 = nn.ModuleList(_box_branch(x, c4, self._ek_box_groups) for x in ch[self.nl :])
        self.cv5 = nn.ModuleList(_cls_branch(x, c5, nc) for x in ch[self.nl :])
        self.dfl = dfl
        self.dfl2 = DFL(self.reg_max)

    def forward_main(self, feats: Sequence[torch.Tensor]) -> RawHeadOutput:
        return self._run(feats, self.cv4, self.cv5)

    def forward_aux(self, feats: Sequence[torch.Tensor]) -> RawHeadOutput:
        """Raw auxiliary-branch output from the auxiliary inputs (P3..P5)."""
        return self._run(feats, self.cv2, self.cv3)

    def branches(self, feats: Sequence[torch.Tensor]) -> Dict[str, RawHeadOutput]:
        nl = self.nl
        return {"aux": self.forward_aux(feats[:nl]), "main": self.forward_main(feats[nl : 2 * nl])}

    def main_head(self) -> DDetect:
        """The single head of the inference model: this head's ``cv4/cv5/dfl2`` as ``cv2/cv3/dfl``.

        The modules are shared, not copied (``DDetect`` for ``DualDDetect``, ``Detect`` for
        ``DualDetect``); the stride is copied.
        """
        single = MAIN_HEADS[type(self)]
        head = single.__new__(single)  # no __init__: its branches would be replaced at once
        nn.Module.__init__(head)
        head._init_attributes(self.nc, self.nl, self.inplace)
        head.cv2, head.cv3, head.dfl = self.cv4, self.cv5, self.dfl2
        head.stride = self.stride.detach().clone()
        return head


class Detect(DDetect):
    """Single-branch DFL head without grouped box convs (``models.yolo.Detect``)."""

    _official_path = "models.yolo.Detect"
    _ek_box_groups = 1


class DualDetect(DualDDetect):
    """Dual head without grouped box convs (``models.yolo.DualDetect``)."""

    _official_path = "models.yolo.DualDetect"
    _ek_box_groups = 1


MAIN_HEADS = {DualDDetect: DDetect, DualDetect: Detect}  # train-time (PGI) head -> inference head
HEADS = {"DDetect": DDetect, "DualDDetect": DualDDetect, "Detect": Detect, "DualDetect": DualDetect}
