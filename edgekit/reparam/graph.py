"""Pruning of a layer list with ``from`` indices (the Ultralytics / YOLOv9 model convention).

Layer ``i`` reads ``from`` = an int or a list of ints; a negative entry ``j`` is relative
(``i + j``; ``-1`` = the previous layer, or the network input for layer 0), a non-negative
entry is an absolute layer index. These helpers keep the layers that an output needs (e.g.
the main head of a PGI model), renumber them and rewrite every ``from``: pure index
arithmetic, with no module in sight, so that a family's PGI pass stays small and testable.
"""

from __future__ import annotations

from typing import Collection, Dict, List, Sequence, Tuple, Union

From = Union[int, Sequence[int]]
INPUT = -1  # the network input in resolved (absolute) form


def resolve_from(f: From, i: int) -> List[int]:
    """Absolute source indices of layer ``i`` (``INPUT`` for the network input)."""
    refs = [f] if isinstance(f, int) else list(f)
    out = []
    for j in refs:
        src = i + j if j < 0 else j
        if src >= i or src < INPUT:
            raise ValueError(f"layer {i} reads {j}: not an earlier layer")
        out.append(src)
    return out


def reachable_layers(froms: Sequence[From], outputs: Sequence[int]) -> List[int]:
    """Sorted indices of every layer that ``outputs`` depend on (``outputs`` included)."""
    seen, stack = set(), list(outputs)
    while stack:
        i = stack.pop()
        if i == INPUT or i in seen:
            continue
        if not 0 <= i < len(froms):
            raise ValueError(f"layer {i} does not exist ({len(froms)} layers)")
        seen.add(i)
        stack.extend(resolve_from(froms[i], i))
    return sorted(seen)


def renumber_layers(
    froms: Sequence[From], keep: Sequence[int], bypass: Collection[int] = ()
) -> Tuple[Dict[int, int], List[From]]:
    """Old -> new index map and the rewritten ``from`` of each kept layer, in new order.

    ``bypass`` are kept-but-removed identity layers (YOLOv9's ``Silence``): readers of one
    read its single source instead. A reference to the previous new layer becomes ``-1``,
    any other an absolute new index; int/list form is preserved.
    """
    keep = sorted(set(keep))

    def source(old: int) -> int:
        while old in bypass:
            srcs = resolve_from(froms[old], old)
            if len(srcs) != 1:
                raise ValueError(
                    f"bypassed layer {old} has {len(srcs)} inputs; only single-input layers can go"
                )
            old = srcs[0]
        return old

    mapping: Dict[int, int] = {}
    for old in keep:
        if old not in bypass:
            mapping[old] = len(mapping)
    new_froms: List[From] = []
    for old, new in mapping.items():
        refs = []
        for src in (source(s) for s in resolve_from(froms[old], old)):
            if src == INPUT:
                if new != 0:
                    raise ValueError(f"layer {old} reads the network input but is not the first layer kept")
                refs.append(-1)
            elif src not in mapping:
                raise ValueError(f"layer {old} reads layer {src}, which is not kept")
            else:
                refs.append(-1 if mapping[src] == new - 1 else mapping[src])
        new_froms.append(refs[0] if isinstance(froms[old], int) else refs)
    return mapping, new_froms


def save_indices(froms: Sequence[From]) -> List[int]:
    """Layers read through an entry other than ``-1`` (Ultralytics' ``save`` list)."""
    saved = set()
    for i, f in enumerate(froms):
        refs = [f] if isinstance(f, int) else list(f)
        saved.update(i + j if j < 0 else j for j in refs if j != -1)
    return sorted(saved)
