"""What edgekit tells the rest of the pipeline about an Ultralytics RT-DETR (``ModelInfo``).

RT-DETR is a query head (``HeadSpec.queries``): no levels, no DFL, no NMS. Its images are
stretched to the input size, as ``RTDETRPredictor`` (``LetterBox(auto=False, scale_fill=True)``)
and ``RTDETRDataset`` (``rect=False``, square resize) prepare them. The NMS-free post-process is
the two-stage top-k of ``edgekit.contract.decode.topk_end2end``; with ``max_det`` at least the query
count its first stage keeps every query, so it equals Ultralytics' (and the official RT-DETR's)
top-k over queries x classes.
"""

from __future__ import annotations

import copy
from typing import Optional, Tuple

from edgekit.contract.model import HeadSpec, ModelInfo, PreprocessSpec, TrainStructures
from edgekit.models.ultralytics.build import RTDETRModel, model_scale
from edgekit.models.ultralytics.conv import Conv, RepConv

#: Ultralytics' ``max_det`` default, which is also RT-DETR's query count
MAX_DET = 300


def is_rtdetr_yaml(cfg: dict) -> bool:
    """True when the yaml's last head row is an ``RTDETRDecoder``."""
    rows = cfg.get("head") or [[None, None, ""]]
    return str(rows[-1][2]) == "RTDETRDecoder"


def train_structures(model: RTDETRModel) -> TrainStructures:
    """RepConv branches (RepC3), Conv+BN pairs (the decoder's input projections too) and the
    decoder's training-only parts."""
    reps = [m for m in model.modules() if isinstance(m, RepConv)]
    inside = {id(c) for r in reps for c in r.modules() if isinstance(c, Conv)}
    convs = [m for m in model.modules() if isinstance(m, Conv) and id(m) not in inside]
    return TrainStructures(
        rep_branches=len(reps),
        conv_bn=len(convs) + len(model.head.input_proj),
        train_only_head=len(model.head.train_only_parts()),
    )


def head_spec(model: RTDETRModel, max_det: int = MAX_DET) -> HeadSpec:
    """A query head: NMS-free, no DFL; ``strides`` holds the one stride the input must divide by."""
    return HeadSpec(
        strides=tuple(int(s) for s in model.stride.tolist()),
        bins=1,
        end2end=True,
        max_det=max_det,
        nc=model.nc,
        queries=int(model.head.num_queries),
    )


def rtdetr_info(model: RTDETRModel, variant: str, imgsz: Optional[Tuple[int, int]] = None) -> ModelInfo:
    return ModelInfo(
        family="ultralytics",
        variant=variant,
        names=list(model.names),
        head=head_spec(model),
        preprocess=PreprocessSpec(resize="stretch", pad_value=114, color="RGB", scale=1.0 / 255.0),
        imgsz=imgsz or (640, 640),
        imgsz_recorded=imgsz is not None,
        structures=train_structures(model),
        extra={
            "yaml": copy.deepcopy(model.yaml),
            "scale": model_scale(model.yaml)[0],
            "architecture": "rtdetr",
        },
    )
