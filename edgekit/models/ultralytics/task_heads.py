"""Ultralytics task heads: ``Segment`` / ``Segment26``, ``Pose`` / ``Pose26``, ``OBB`` / ``OBB26``.

Each is the detection head plus a per-level ``cv4`` branch (mask coefficients, keypoints or one
angle per anchor; end-to-end heads carry ``one2one_`` copies), and for segmentation a ``proto``
module on the P3 features (YOLO26: on all levels, fused onto P3). Names and construction order
follow Ultralytics' modules so a checkpoint's state dict loads with ``strict=True``.

``forward`` returns edgekit's raw task convention (``edgekit.contract.model``):
``(box_levels, cls_levels, {"masks": levels, "proto": tensor} | {"keypoints": levels} |
{"angle": levels})``, every task tensor before any activation or decode.

Training-only parts stay in the module until reparameterization drops them
(:meth:`Detect.train_only_parts`), as Ultralytics' ``fuse()`` does: Pose26's normalizing flow
(``flow_model``, the residual log-likelihood loss) and keypoint ``sigma`` convs, and
Proto26's semantic-segmentation branch (``semseg``).
"""

from __future__ import annotations

import copy
from typing import Dict, List, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from edgekit.models.ultralytics.conv import Conv
from edgekit.models.ultralytics.head import Detect

TaskOutputs = Dict[str, Union[torch.Tensor, List[torch.Tensor]]]
TaskLevels = Tuple[List[torch.Tensor], List[torch.Tensor], TaskOutputs]


def _task_branch(x: int, c4: int, out: int) -> nn.Sequential:
    return nn.Sequential(Conv(x, c4, 3), Conv(c4, c4, 3), nn.Conv2d(c4, out, 1))


class Proto(nn.Module):
    """Mask prototypes: 3x3 Conv, 2x transposed-conv upsampling, 3x3 Conv, 1x1 Conv to ``c2`` protos."""

    def __init__(self, c1: int, c_: int = 256, c2: int = 32) -> None:
        super().__init__()
        self.cv1 = Conv(c1, c_, k=3)
        self.upsample = nn.ConvTranspose2d(c_, c_, 2, 2, 0, bias=True)
        self.cv2 = Conv(c_, c_, k=3)
        self.cv3 = Conv(c_, c2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, c1, H, W) -> (B, c2, 2H, 2W)."""
        return self.cv3(self.cv2(self.upsample(self.cv1(x))))


class Proto26(Proto):
    """YOLO26 prototypes: P4/P5 refined by 1x1 convs, upsampled onto P3 and summed, then ``Proto``.

    ``semseg`` (a semantic-segmentation branch) only feeds a training loss.
    """

    def __init__(self, ch: Sequence[int] = (), c_: int = 256, c2: int = 32, nc: int = 80) -> None:
        super().__init__(c_, c_, c2)
        self.feat_refine = nn.ModuleList(Conv(x, ch[0], k=1) for x in ch[1:])
        self.feat_fuse = Conv(ch[0], c_, k=3)
        self.semseg = nn.Sequential(Conv(ch[0], c_, k=3), Conv(c_, c_, k=3), nn.Conv2d(c_, nc, 1))

    def forward(self, x: List[torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        feat = x[0]
        for i, refine in enumerate(self.feat_refine):
            feat = feat + F.interpolate(refine(x[i + 1]), scale_factor=2 ** (i + 1), mode="nearest")
        return super().forward(self.feat_fuse(feat))


class RealNVP(nn.Module):
    """The parameters of Pose26's normalizing flow (six coupling layers of 2-d scale/shift MLPs).

    The flow only scores keypoint residuals in the training loss; edgekit keeps it so the checkpoint
    loads strictly, and reparameterization drops it. It has no forward.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("loc", torch.zeros(2))
        self.register_buffer("cov", torch.eye(2))
        self.register_buffer("mask", torch.tensor([[0, 1], [1, 0]] * 3, dtype=torch.float32))
        self.s = nn.ModuleList(_coupling(scale=True) for _ in range(6))
        self.t = nn.ModuleList(_coupling(scale=False) for _ in range(6))


def _coupling(scale: bool) -> nn.Sequential:
    """One coupling MLP of the flow: 2 -> 64 -> 64 -> 2 (tanh-bounded for the scale nets)."""
    layers = [nn.Linear(2, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 2)]
    return nn.Sequential(*layers, nn.Tanh()) if scale else nn.Sequential(*layers)


class _TaskHead(Detect):
    """A detection head with per-level task branches (``branch_names`` after ``cv2``/``cv3``)."""

    branch_names: Tuple[str, ...] = ("cv2", "cv3", "cv4")

    def _branch(self, name: str, one2one: bool) -> nn.ModuleList:
        module = getattr(self, f"one2one_{name}" if one2one else name, None)
        if not isinstance(module, nn.ModuleList):
            which = "one-to-one" if one2one else "one-to-many"
            raise ValueError(f"the {which} head branch was removed by reparameterization")
        return module

    def _copy_one2one(self, end2end: bool, *names: str) -> None:
        """The one-to-one copies of the task branches ``names`` (end-to-end heads)."""
        for name in names if end2end else ():
            setattr(self, f"one2one_{name}", copy.deepcopy(getattr(self, name)))

    def task_outputs(self, x: List[torch.Tensor], one2one: bool) -> TaskOutputs:
        raise NotImplementedError

    def forward(self, x: List[torch.Tensor]) -> TaskLevels:  # type: ignore[override]
        one2one = self.uses_one2one
        box, cls = self.forward_branch(x, one2one)
        return box, cls, self.task_outputs(x, one2one)


class Segment(_TaskHead):
    """Segmentation head: ``cv4`` mask coefficients (``nm`` per anchor) and ``proto`` prototypes."""

    task = "segment"

    def __init__(
        self,
        nc: int = 80,
        nm: int = 32,
        npr: int = 256,
        reg_max: int = 16,
        end2end: bool = False,
        ch: Sequence[int] = (),
        legacy: bool = False,
    ) -> None:
        super().__init__(nc, reg_max, end2end, ch, legacy)
        self.nm, self.npr = nm, npr
        self.proto: nn.Module = Proto(ch[0], npr, nm)
        c4 = max(ch[0] // 4, nm)
        self.cv4 = nn.ModuleList(_task_branch(x, c4, nm) for x in ch)
        self._copy_one2one(end2end, "cv4")

    def prototypes(self, x: List[torch.Tensor]) -> torch.Tensor:
        return self.proto(x[0])

    def task_outputs(self, x: List[torch.Tensor], one2one: bool) -> TaskOutputs:
        cv4 = self._branch("cv4", one2one)
        return {"masks": [cv4[i](x[i]) for i in range(self.nl)], "proto": self.prototypes(x)}


class Segment26(Segment):
    """YOLO26 segmentation head: prototypes from all levels (``Proto26``)."""

    def __init__(
        self,
        nc: int = 80,
        nm: int = 32,
        npr: int = 256,
        reg_max: int = 16,
        end2end: bool = False,
        ch: Sequence[int] = (),
        legacy: bool = False,
    ) -> None:
        super().__init__(nc, nm, npr, reg_max, end2end, ch, legacy)
        self.proto = Proto26(ch, npr, nm, nc)

    def prototypes(self, x: List[torch.Tensor]) -> torch.Tensor:
        return self.proto(x)

    def train_only_parts(self) -> List[str]:
        return ["proto.semseg"] if isinstance(getattr(self.proto, "semseg", None), nn.Module) else []


class OBB(_TaskHead):
    """Oriented-box head: ``cv4`` gives ``ne`` (1) raw angle logits per anchor."""

    task = "obb"
    angle_decode = "sigmoid"  # (sigmoid(raw) - 0.25) * pi, in [-pi/4, 3pi/4)

    def __init__(
        self,
        nc: int = 80,
        ne: int = 1,
        reg_max: int = 16,
        end2end: bool = False,
        ch: Sequence[int] = (),
        legacy: bool = False,
    ) -> None:
        super().__init__(nc, reg_max, end2end, ch, legacy)
        self.ne = ne
        c4 = max(ch[0] // 4, ne)
        self.cv4 = nn.ModuleList(_task_branch(x, c4, ne) for x in ch)
        self._copy_one2one(end2end, "cv4")

    def task_outputs(self, x: List[torch.Tensor], one2one: bool) -> TaskOutputs:
        cv4 = self._branch("cv4", one2one)
        return {"angle": [cv4[i](x[i]) for i in range(self.nl)]}


class OBB26(OBB):
    """YOLO26 oriented-box head: the angle is the raw output itself (no sigmoid)."""

    angle_decode = "raw"


class Pose(_TaskHead):
    """Keypoint head: ``cv4`` gives ``kpt_shape[0] * kpt_shape[1]`` raw values per anchor."""

    task = "pose"
    keypoint_decode = "v8"  # xy = (2 * raw + anchor - 0.5) * stride

    def __init__(
        self,
        nc: int = 80,
        kpt_shape: Sequence[int] = (17, 3),
        reg_max: int = 16,
        end2end: bool = False,
        ch: Sequence[int] = (),
        legacy: bool = False,
    ) -> None:
        super().__init__(nc, reg_max, end2end, ch, legacy)
        self.kpt_shape = (int(kpt_shape[0]), int(kpt_shape[1]))
        self.nk = self.kpt_shape[0] * self.kpt_shape[1]
        self._build_branches(ch, end2end)

    def _build_branches(self, ch: Sequence[int], end2end: bool) -> None:
        c4 = max(ch[0] // 4, self.nk)
        self.cv4 = nn.ModuleList(_task_branch(x, c4, self.nk) for x in ch)
        self._copy_one2one(end2end, "cv4")

    def task_outputs(self, x: List[torch.Tensor], one2one: bool) -> TaskOutputs:
        cv4 = self._branch("cv4", one2one)
        return {"keypoints": [cv4[i](x[i]) for i in range(self.nl)]}


class Pose26(Pose):
    """YOLO26 keypoint head: shared ``cv4`` features, ``cv4_kpts`` keypoints, ``cv4_sigma`` (training
    only: per-keypoint x/y spread for the flow loss) and the ``flow_model``."""

    keypoint_decode = "v26"  # xy = (raw + anchor) * stride
    branch_names = ("cv2", "cv3", "cv4", "cv4_kpts", "cv4_sigma")

    def _build_branches(self, ch: Sequence[int], end2end: bool) -> None:
        """Ultralytics' module order: cv4 (+ its one-to-one copy), flow, kpts, sigma (+ copies)."""
        n, dims = self.kpt_shape
        c4 = max(ch[0] // 4, n * (dims + 2))
        self.cv4 = nn.ModuleList(nn.Sequential(Conv(x, c4, 3), Conv(c4, c4, 3)) for x in ch)
        self._copy_one2one(end2end, "cv4")
        self.flow_model = RealNVP()
        self.cv4_kpts = nn.ModuleList(nn.Conv2d(c4, self.nk, 1) for _ in ch)
        self.nk_sigma = n * 2
        self.cv4_sigma = nn.ModuleList(nn.Conv2d(c4, self.nk_sigma, 1) for _ in ch)
        self._copy_one2one(end2end, "cv4_kpts", "cv4_sigma")

    def task_outputs(self, x: List[torch.Tensor], one2one: bool) -> TaskOutputs:
        cv4, kpts = self._branch("cv4", one2one), self._branch("cv4_kpts", one2one)
        return {"keypoints": [kpts[i](cv4[i](x[i])) for i in range(self.nl)]}

    def train_only_parts(self) -> List[str]:
        sigma = [
            n for n in ("cv4_sigma", "one2one_cv4_sigma") if isinstance(getattr(self, n, None), nn.Module)
        ]
        return (["flow_model"] if isinstance(self.flow_model, nn.Module) else []) + sigma


TASK_HEADS = {cls.__name__: cls for cls in (Segment, Segment26, Pose, Pose26, OBB, OBB26)}
