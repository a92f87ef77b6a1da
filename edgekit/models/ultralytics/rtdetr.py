"""RT-DETR's decoder as Ultralytics builds it (``RTDETRDecoder`` in ``nn/modules/head.py``, the
deformable decoder in ``transformer.py``), for inference: no denoising queries, and the decoder
stops at its evaluation layer (the last by default), whose head is the only one run.

``RTDETRDecoder.forward`` returns the raw query outputs of that layer: boxes ``(B, Q, 4)`` as
normalized cx, cy, w, h (after the sigmoid) and class logits ``(B, Q, nc)``; the top-k over
queries x classes is the decoder's (``edgekit.contract``), not this module's. Parameter names
follow Ultralytics' so its checkpoints load as they are; the training-only ones
(``denoising_class_embed``, the other layers' ``dec_score_head``, the layers after the evaluation
layer) are kept so that a checkpoint loads strictly, and are dropped by reparameterization
(:meth:`RTDETRDecoder.train_only_parts`). ``dec_score_head`` is a ``ModuleDict`` keyed by layer
index (the state-dict keys of Ultralytics' ``ModuleList``), so dropping heads renumbers nothing.
"""

from __future__ import annotations

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
from edgekit.models.ultralytics.conv import batch_norm


class MSDeformAttn(nn.Module):
    """Deformable cross-attention: each query samples ``n_points`` per head and level around its box."""

    def __init__(self, d_model: int = 256, n_levels: int = 4, n_heads: int = 8, n_points: int = 4) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model must be divisible by n_heads, got {d_model} and {n_heads}")
        self.d_model, self.n_levels, self.n_heads, self.n_points = d_model, n_levels, n_heads, n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)

    def forward(self, query: torch.Tensor, boxes: torch.Tensor, value: torch.Tensor, shapes: Shapes):
        """``query`` (B, Q, C), ``boxes`` (B, Q, 1, 4) normalized cxcywh, ``value`` (B, N, C)."""
        bs, len_q = query.shape[:2]
        value = self.value_proj(value).view(bs, value.shape[1], self.n_heads, self.d_model // self.n_heads)
        total = self.n_levels * self.n_points
        offsets = self.sampling_offsets(query).view(bs, len_q, self.n_heads, total, 2)
        weights = F.softmax(self.attention_weights(query).view(bs, len_q, self.n_heads, total), -1)
        locations = boxes[:, :, None, :, :2] + offsets / self.n_points * boxes[:, :, None, :, 2:] * 0.5
        points = [self.n_points] * self.n_levels
        return self.output_proj(deformable_attention(value, shapes, locations, weights, points))


class DecoderLayer(nn.Module):
    """Self-attention over the queries, deformable cross-attention into the features, FFN; post-norm.
    (Ultralytics' ``DeformableTransformerDecoderLayer``.)"""

    def __init__(self, d_model: int, n_heads: int, d_ffn: int, n_levels: int, n_points: int) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, n_heads)
        self.norm1 = nn.LayerNorm(d_model)
        self.cross_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.norm2 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.act = nn.ReLU()
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.norm3 = nn.LayerNorm(d_model)

    def forward(self, embed, boxes, feats, shapes: Shapes, query_pos):  # type: ignore[no-untyped-def]
        q = k = embed + query_pos
        attended = self.self_attn(q.transpose(0, 1), k.transpose(0, 1), embed.transpose(0, 1))[0]
        embed = self.norm1(embed + attended.transpose(0, 1))
        embed = self.norm2(embed + self.cross_attn(embed + query_pos, boxes.unsqueeze(2), feats, shapes))
        return self.norm3(embed + self.linear2(self.act(self.linear1(embed))))


class DeformableDecoder(nn.Module):
    """The stack of decoder layers (keys ``layers.<i>.*``); inference runs up to ``eval_idx``."""

    def __init__(self, layer_args: Tuple[int, ...], num_layers: int, eval_idx: int = -1) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(*layer_args) for _ in range(num_layers))
        self.eval_idx = eval_idx if eval_idx >= 0 else num_layers + eval_idx


class RTDETRDecoder(nn.Module):
    """Query selection from the encoder's features and the deformable decoder, up to its eval layer."""

    def __init__(
        self,
        nc: int = 80,
        ch: Sequence[int] = (512, 1024, 2048),
        hd: int = 256,
        nq: int = 300,
        ndp: int = 4,
        nh: int = 8,
        ndl: int = 6,
        d_ffn: int = 1024,
        dropout: float = 0.0,
        act: object = None,
        eval_idx: int = -1,
        nd: int = 100,
        label_noise_ratio: float = 0.5,
        box_noise_scale: float = 1.0,
        learnt_init_query: bool = False,
    ) -> None:
        super().__init__()
        if dropout or act is not None:
            raise ValueError("RTDETRDecoder: only the default activation (ReLU) is implemented")
        self.nc, self.hidden_dim, self.num_queries, self.nl = nc, hd, nq, len(ch)
        self.input_proj = nn.ModuleList(
            nn.Sequential(nn.Conv2d(x, hd, 1, bias=False), batch_norm(hd)) for x in ch
        )
        self.decoder = DeformableDecoder((hd, nh, d_ffn, self.nl, ndp), ndl, eval_idx)
        self.denoising_class_embed = nn.Embedding(nc, hd)  # training only (denoising queries)
        self.learnt_init_query = learnt_init_query
        if learnt_init_query:
            self.tgt_embed = nn.Embedding(nq, hd)
        self.query_pos_head = MLP(4, 2 * hd, hd, num_layers=2)
        self.enc_output = nn.Sequential(nn.Linear(hd, hd), nn.LayerNorm(hd))
        self.enc_score_head = nn.Linear(hd, nc)
        self.enc_bbox_head = MLP(hd, hd, 4, num_layers=3)
        self.dec_score_head = nn.ModuleDict({str(i): nn.Linear(hd, nc) for i in range(ndl)})
        self.dec_bbox_head = nn.ModuleList(MLP(hd, hd, 4, num_layers=3) for _ in range(ndl))

    def train_only_parts(self) -> List[str]:
        """Paths (relative to this module) of what only training runs: the denoising embedding, the
        score heads of the layers before the evaluation layer, every layer (and its box head) after it."""
        return decoder_train_only_parts(self)

    def encoder_input(self, x: List[torch.Tensor]) -> Tuple[torch.Tensor, Shapes]:
        """Projected levels flattened to (B, sum(h * w), hd), and their shapes."""
        projected = [proj(feat) for proj, feat in zip(self.input_proj, x)]
        shapes = [(int(f.shape[2]), int(f.shape[3])) for f in projected]
        return torch.cat([f.flatten(2).permute(0, 2, 1) for f in projected], 1), shapes

    def select_queries(self, feats: torch.Tensor, shapes: Shapes) -> Tuple[torch.Tensor, torch.Tensor]:
        """The ``num_queries`` best cells by encoder class score: their features, reference boxes (logits)."""
        bs = feats.shape[0]
        anchors, valid = query_anchors(shapes, feats)
        features = self.enc_output(valid * feats)
        scores = self.enc_score_head(features)
        k = min(self.num_queries, scores.shape[1])
        top = torch.topk(scores.max(-1).values, k, dim=1).indices.view(-1)
        batch = torch.arange(end=bs, dtype=top.dtype).unsqueeze(-1).repeat(1, k).view(-1)
        top_features = features[batch, top].view(bs, k, -1)
        refer = self.enc_bbox_head(top_features) + anchors[:, top].view(bs, k, -1)
        if self.learnt_init_query:
            return self.tgt_embed.weight[:k].unsqueeze(0).repeat(bs, 1, 1), refer
        return top_features, refer

    def forward(self, x: List[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        feats, shapes = self.encoder_input(x)
        output, refer = self.select_queries(feats, shapes)
        boxes = refer.sigmoid()
        for i, layer in enumerate(self.decoder.layers):
            output = layer(output, boxes, feats, shapes, self.query_pos_head(boxes))
            refined = torch.sigmoid(self.dec_bbox_head[i](output) + inverse_sigmoid(boxes))
            if i == self.decoder.eval_idx:
                return refined, self.dec_score_head[str(i)](output)
            boxes = refined
        layers = len(self.decoder.layers)
        raise ValueError(f"eval_idx {self.decoder.eval_idx} is past the {layers} decoder layers")
