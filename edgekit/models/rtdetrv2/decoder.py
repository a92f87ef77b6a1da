"""RT-DETRv2's decoder (``src/zoo/rtdetr/rtdetrv2_decoder.py``, ``RTDETRTransformerv2``) for inference:
query selection from the encoder's features, then the deformable decoder up to its evaluation layer
(points per level may differ; ``default`` = bilinear ``grid_sample``, ``discrete`` = rounded gather).

Parameter names follow the official ones; the training-only parts (denoising embedding, the score
heads of the other layers, the layers after the evaluation layer) load and are dropped by
reparameterization (:meth:`RTDETRTransformerv2.train_only_parts`). ``dec_score_head`` is a
``ModuleDict`` keyed by layer index: the official ``ModuleList``'s keys, nothing renumbered on a drop.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from edgekit.models.detr import (
    MLP,
    Shapes,
    decoder_train_only_parts,
    deformable_attention,
    inverse_sigmoid,
    query_anchors,
)


class MSDeformableAttention(nn.Module):
    def __init__(self, dim: int, heads: int, points: Sequence[int], method: str = "default") -> None:
        super().__init__()
        self.heads, self.points, self.method, self.offset_scale = heads, list(points), method, 0.5
        scale = [1.0 / n for n in self.points for _ in range(n)]
        self.register_buffer("num_points_scale", torch.tensor(scale, dtype=torch.float32))
        total = heads * sum(self.points)
        self.sampling_offsets = nn.Linear(dim, total * 2)
        self.attention_weights = nn.Linear(dim, total)
        self.value_proj = nn.Linear(dim, dim)
        self.output_proj = nn.Linear(dim, dim)

    def forward(self, query: torch.Tensor, boxes: torch.Tensor, value: torch.Tensor, shapes: Shapes):
        """``query`` (B, Q, C), ``boxes`` (B, Q, 1, 4) normalized cxcywh, ``value`` (B, N, C)."""
        bs, len_q = query.shape[:2]
        value = self.value_proj(value).reshape(bs, value.shape[1], self.heads, -1)
        total = sum(self.points)
        offsets = self.sampling_offsets(query).reshape(bs, len_q, self.heads, total, 2)
        weights = F.softmax(self.attention_weights(query).reshape(bs, len_q, self.heads, total), -1)
        scale = self.num_points_scale.to(query.dtype).unsqueeze(-1)
        offset = offsets * scale * boxes[:, :, None, :, 2:] * self.offset_scale
        locations = boxes[:, :, None, :, :2] + offset
        out = deformable_attention(value, shapes, locations, weights, self.points, self.method)
        return self.output_proj(out)


class DecoderLayer(nn.Module):
    """Self-attention over the queries, deformable cross-attention, FFN; post-norm."""

    def __init__(self, dim: int, heads: int, ffn: int, points: Sequence[int], method: str) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
        self.cross_attn = MSDeformableAttention(dim, heads, points, method)
        self.norm2 = nn.LayerNorm(dim)
        self.linear1 = nn.Linear(dim, ffn)
        self.linear2 = nn.Linear(ffn, dim)
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, target, boxes, memory, shapes: Shapes, query_pos):  # type: ignore[no-untyped-def]
        q = k = target + query_pos
        target = self.norm1(target + self.self_attn(q, k, value=target, need_weights=False)[0])
        target = self.norm2(target + self.cross_attn(target + query_pos, boxes.unsqueeze(2), memory, shapes))
        return self.norm3(target + self.linear2(F.relu(self.linear1(target))))


class TransformerDecoder(nn.Module):
    """The decoder layers (keys ``layers.<i>``); inference stops at ``eval_idx``."""

    def __init__(self, layer_args: Tuple, num_layers: int, eval_idx: int = -1) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(*layer_args) for _ in range(num_layers))
        self.eval_idx = eval_idx if eval_idx >= 0 else num_layers + eval_idx


class RTDETRTransformerv2(nn.Module):
    def __init__(
        self,
        num_classes: int = 80,
        hidden_dim: int = 256,
        num_queries: int = 300,
        feat_channels: Sequence[int] = (256, 256, 256),
        num_points: Sequence[int] = (4, 4, 4),
        nhead: int = 8,
        num_layers: int = 6,
        dim_feedforward: int = 1024,
        eval_idx: int = -1,
        cross_attn_method: str = "default",
        query_select_method: str = "default",
        denoising: bool = True,
        learn_query_content: bool = False,
    ) -> None:
        super().__init__()
        if len(feat_channels) != len(num_points):
            raise ValueError("RT-DETRv2: extra levels beyond the encoder's are not implemented")
        self.num_classes, self.num_queries, self.query_select_method = (
            num_classes,
            num_queries,
            query_select_method,
        )
        self.input_proj = nn.ModuleList(
            nn.Sequential(
                OrderedDict(
                    [("conv", nn.Conv2d(c, hidden_dim, 1, bias=False)), ("norm", nn.BatchNorm2d(hidden_dim))]
                )
            )
            for c in feat_channels
        )
        layer = (hidden_dim, nhead, dim_feedforward, num_points, cross_attn_method)
        self.decoder = TransformerDecoder(layer, num_layers, eval_idx)
        self.denoising_class_embed = nn.Embedding(num_classes + 1, hidden_dim) if denoising else None
        self.learn_query_content = learn_query_content
        if learn_query_content:
            self.tgt_embed = nn.Embedding(num_queries, hidden_dim)
        self.query_pos_head = MLP(4, 2 * hidden_dim, hidden_dim, 2)
        self.enc_output = nn.Sequential(
            OrderedDict([("proj", nn.Linear(hidden_dim, hidden_dim)), ("norm", nn.LayerNorm(hidden_dim))])
        )
        self.enc_score_head = nn.Linear(hidden_dim, 1 if query_select_method == "agnostic" else num_classes)
        self.enc_bbox_head = MLP(hidden_dim, hidden_dim, 4, 3)
        self.dec_score_head = nn.ModuleDict(
            {str(i): nn.Linear(hidden_dim, num_classes) for i in range(num_layers)}
        )
        self.dec_bbox_head = nn.ModuleList(MLP(hidden_dim, hidden_dim, 4, 3) for _ in range(num_layers))

    def train_only_parts(self) -> List[str]:
        """The denoising embedding, the other layers' score heads, the layers (and box heads) after
        the evaluation layer: paths relative to this module."""
        return decoder_train_only_parts(self)

    def select_queries(self, memory: torch.Tensor, shapes: Shapes) -> Tuple[torch.Tensor, torch.Tensor]:
        anchors, valid = query_anchors(shapes, memory)
        memory = self.enc_output(valid.to(memory.dtype) * memory)
        logits = self.enc_score_head(memory)
        coords = self.enc_bbox_head(memory) + anchors
        k = min(self.num_queries, logits.shape[1])
        if self.query_select_method == "one2many":
            index = torch.topk(logits.flatten(1), k, dim=-1).indices // self.num_classes
        else:
            index = torch.topk(logits.max(-1).values, k, dim=-1).indices
        refer = coords.gather(1, index.unsqueeze(-1).repeat(1, 1, coords.shape[-1]))
        if self.learn_query_content:
            return self.tgt_embed.weight.unsqueeze(0).tile([memory.shape[0], 1, 1]), refer
        return memory.gather(1, index.unsqueeze(-1).repeat(1, 1, memory.shape[-1])), refer

    def forward(self, feats: List[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Boxes (B, Q, 4) normalized cxcywh and class logits (B, Q, nc) of the evaluation layer."""
        projected = [p(f) for p, f in zip(self.input_proj, feats)]
        shapes = [(int(f.shape[2]), int(f.shape[3])) for f in projected]
        memory = torch.cat([f.flatten(2).permute(0, 2, 1) for f in projected], 1)
        output, refer = self.select_queries(memory, shapes)
        boxes = F.sigmoid(refer)
        for i, layer in enumerate(self.decoder.layers):
            output = layer(output, boxes, memory, shapes, self.query_pos_head(boxes))
            refined = F.sigmoid(self.dec_bbox_head[i](output) + inverse_sigmoid(boxes))
            if i == self.decoder.eval_idx:
                return refined, self.dec_score_head[str(i)](output)
            boxes = refined
        raise ValueError(
            f"eval_idx {self.decoder.eval_idx} is past the {len(self.decoder.layers)} decoder layers"
        )
