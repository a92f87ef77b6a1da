"""Ultralytics detection heads: ``Detect`` (YOLOv8/v9/11/12/26) and ``v10Detect`` (YOLOv10).

The head returns edgekit's raw convention (see ``edgekit.contract.model``): per level the box
logits ``(B, 4 * reg_max, H, W)`` and the class logits ``(B, nc, H, W)`` before the sigmoid.
DFL, anchors and the sigmoid are applied by ``edgekit.contract.decode``. An end-to-end head
(``one2one_cv2/cv3`` present) returns its one-to-one branch when ``end2end`` is True; the
one-to-many branch stays in the module (and in the state dict) until reparameterization,
which drops the branch the forward does not use (:meth:`Detect.unused_branches`), as
Ultralytics' ``Detect.fuse`` does.
"""

from __future__ import annotations

import copy
from typing import List, Sequence, Tuple

import torch
from torch import nn

from edgekit.models.ultralytics.conv import Conv, DWConv

RawLevels = Tuple[List[torch.Tensor], List[torch.Tensor]]


class DFL(nn.Module):
    """The frozen integral conv of Distribution Focal Loss: weights ``0..c1-1``."""

    def __init__(self, c1: int = 16) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(c1, dtype=torch.float).view(1, c1, 1, 1)
        self.c1 = c1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 4 * c1, A) distribution logits -> (B, 4, A) expected distances."""
        b, _, a = x.shape
        return self.conv(x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)


def _box_branch(x: int, c2: int, reg_max: int) -> nn.Sequential:
    return nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1))


class Detect(nn.Module):
    """Decoupled anchor-free head; ``legacy`` (v3/v5/v8/v9) uses 3x3 convs in the class branch.

    Modules (in state-dict order): ``cv2`` (box), ``cv3`` (class), ``dfl`` (reg_max > 1), and for
    end-to-end heads ``one2one_cv2`` / ``one2one_cv3``.
    """

    max_det = 300
    #: what the head predicts (a value of ``edgekit.vocab.TASKS``)
    task = "detect"
    #: the per-level branch lists of one head; the one-to-one copies are prefixed ``one2one_``
    branch_names: Tuple[str, ...] = ("cv2", "cv3")

    def __init__(
        self,
        nc: int = 80,
        reg_max: int = 16,
        end2end: bool = False,
        ch: Sequence[int] = (),
        legacy: bool = False,
    ) -> None:
        super().__init__()
        self.nc = nc
        self.nl = len(ch)
        self.reg_max = reg_max
        self.legacy = legacy
        self.stride = torch.zeros(self.nl, device="cpu")
        c2 = max((16, ch[0] // 4, reg_max * 4))
        c3 = max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(_box_branch(x, c2, reg_max) for x in ch)
        self.cv3 = nn.ModuleList(self._cls_branch(x, c3) for x in ch)
        self.dfl: nn.Module = DFL(reg_max) if reg_max > 1 else nn.Identity()
        if end2end:
            self.one2one_cv2 = copy.deepcopy(self.cv2)
            self.one2one_cv3 = copy.deepcopy(self.cv3)
        #: return the one-to-one branch (NMS-free) when the head has one
        self.end2end = bool(end2end)

    def _cls_branch(self, x: int, c3: int) -> nn.Sequential:
        if self.legacy:
            return nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, self.nc, 1))
        return nn.Sequential(
            nn.Sequential(DWConv(x, x, 3), Conv(x, c3, 1)),
            nn.Sequential(DWConv(c3, c3, 3), Conv(c3, c3, 1)),
            nn.Conv2d(c3, self.nc, 1),
        )

    @property
    def has_one2one(self) -> bool:
        return isinstance(getattr(self, "one2one_cv2", None), nn.ModuleList)

    @property
    def has_one2many(self) -> bool:
        """False once reparameterization dropped the one-to-many branch (``cv2``/``cv3`` are None)."""
        return isinstance(self.cv2, nn.ModuleList)

    @property
    def uses_one2one(self) -> bool:
        """Whether ``forward`` returns the one-to-one branch (asked for, or the only one left)."""
        return self.has_one2one and (self.end2end or not self.has_one2many)

    def unused_branches(self) -> List[str]:
        """Attribute names of the head branch ``forward`` does not use (what ``Detect.fuse`` removes)."""
        if not (self.has_one2one and self.has_one2many):
            return []
        prefix = "" if self.uses_one2one else "one2one_"
        return [prefix + name for name in self.branch_names]

    def train_only_parts(self) -> List[str]:
        """Attribute paths of sub-modules only the training loss reads (dropped like ``fuse()`` does)."""
        return []

    def branches(self, one2one: bool) -> Tuple[nn.ModuleList, nn.ModuleList]:
        """The (box, class) module lists of the one-to-one or the one-to-many branch."""
        box_head, cls_head = (self.one2one_cv2, self.one2one_cv3) if one2one else (self.cv2, self.cv3)
        if box_head is None or cls_head is None:
            which = "one-to-one" if one2one else "one-to-many"
            raise ValueError(f"the {which} head branch was removed by reparameterization")
        return box_head, cls_head

    def forward_branch(self, x: List[torch.Tensor], one2one: bool) -> RawLevels:
        box_head, cls_head = self.branches(one2one)
        return [box_head[i](x[i]) for i in range(self.nl)], [cls_head[i](x[i]) for i in range(self.nl)]

    def forward(self, x: List[torch.Tensor]) -> RawLevels:
        return self.forward_branch(x, self.uses_one2one)


class v10Detect(Detect):
    """YOLOv10 head: always end-to-end; light class branch of depth-wise (grouped) convs."""

    def __init__(self, nc: int = 80, ch: Sequence[int] = ()) -> None:
        super().__init__(nc, end2end=True, ch=ch)
        c3 = max(ch[0], min(self.nc, 100))
        self.cv3 = nn.ModuleList(
            nn.Sequential(
                nn.Sequential(Conv(x, x, 3, g=x), Conv(x, c3, 1)),
                nn.Sequential(Conv(c3, c3, 3, g=c3), Conv(c3, c3, 1)),
                nn.Conv2d(c3, self.nc, 1),
            )
            for x in ch
        )
        self.one2one_cv3 = copy.deepcopy(self.cv3)
