"""How far an INT8 artifact is from its FP32 source, through ``edgekit.verify`` (INT8 bounds).

Raw outputs by role (boxes by cosine, score tensors reported) and the decoded detections: FP32
detections clear of the threshold must be found in the INT8 model's and vice versa (hysteresis:
each side's detections are decoded at the threshold divided by ``1 + cut_rel``, and a detection is
required only above the threshold). When FP32 finds fewer than ``MIN_DETECTIONS`` on the check
images (an untrained model), the top-k candidates are compared instead, with the rank as the
hysteresis: the best half of each side's top-k must be found in the other's top-k.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, List, Mapping, Sequence

import numpy as np

from edgekit.decoding.preprocess import Geometry
from edgekit.verify import CANDIDATES, MIN_DETECTIONS, Bounds, Dets, check_outputs, match, merge, summarize
from edgekit.verify.fidelity import TRUTH_CONF, fidelity

Infer = Callable[[np.ndarray], Mapping[str, np.ndarray]]


def _candidate_cut(dets: Dets) -> float:
    """The score of the last of the best half (the rank hysteresis of the candidates mode)."""
    if len(dets) == 0:
        return 0.0
    return float(np.sort(dets.scores)[::-1][min(len(dets), max(1, CANDIDATES // 2)) - 1]) - 1e-12


def matched(decoded: Callable[..., List[tuple]], loose: Any, bounds: Bounds) -> Dict[str, Any]:
    """The detections above the (hysteresis-lowered) threshold matched both ways; the top-k
    candidates instead when FP32 has fewer than ``MIN_DETECTIONS``."""
    summary = summarize([match(r, g, bounds, loose.conf) for r, g in decoded(loose)], bounds, "detections")
    if summary["reference"] >= MIN_DETECTIONS:
        return summary
    top = dataclasses.replace(loose, conf=0.0, max_det=CANDIDATES)
    per_image = [
        match(r, g, bounds, _candidate_cut(r), _candidate_cut(g), margin=False) for r, g in decoded(top)
    ]
    return summarize(per_image, bounds, "candidates")


def agreement(
    reference: Infer,
    candidate: Infer,
    decoder: Any,
    options: Any,
    images: Sequence[np.ndarray],
    bounds: Bounds,
) -> Dict[str, Any]:
    """``candidate`` (INT8) against ``reference`` (FP32) on ``images`` (model inputs)."""
    m = decoder.manifest
    roles = {o.name: o.role for o in m.outputs}
    layouts = {o.name: o.layout for o in m.outputs}
    names = [n for n, r in roles.items() if r not in ("detections", "nms_indices")]
    geometry = Geometry(1.0, 1.0, 0.0, 0.0, (m.input.height, m.input.width))  # input pixels
    loose = dataclasses.replace(options, conf=options.conf / (1.0 + bounds.cut_rel))
    rows: List[Any] = []
    pairs = []
    for x in images:
        a, b = reference(x), candidate(x)
        rows.append(check_outputs({n: b[n] for n in names}, {n: a[n] for n in names}, roles, bounds, layouts))
        pairs.append((a, b))

    def decoded(opts: Any) -> List[tuple]:
        return [
            (Dets.of(decoder(a, [geometry], opts)[0]), Dets.of(decoder(b, [geometry], opts)[0]))
            for a, b in pairs
        ]

    summary = matched(decoded, loose, bounds)
    outputs = merge(rows)
    problems = [f"{r.name} ({r.role}): {r.problem}" for r in outputs if not r.ok]
    label_free = None
    if summary["mode"] == "detections" and m.decoder.type != "graph-nms" and bounds.min_fidelity is not None:
        # graph NMS cuts both sides at its threshold: no room below the truth's cut, so not measured
        label_free = label_free_map(decoded, options, (m.input.height, m.input.width))
        value = label_free["map50_95"]
        bounded = m.decoder.task == "detect"  # measured on detectors; reported for the other tasks
        label_free["bounded"] = bounded
        if bounded and value is not None and value < bounds.min_fidelity:
            problems.append(
                f"mAP50-95 against FP32's detections {value:.3f} < {bounds.min_fidelity} "
                f"({label_free['truth']} FP32 detections above {label_free['truth_conf']} as truth)"
            )
    if not summary["ok"]:
        problems.append(
            f"{summary['mode']} match FP32 at rate {summary['match_rate']:.3f} < {bounds.min_match_rate} "
            f"({summary['found']}/{summary['required']} found, {summary['kept']}/"
            f"{summary['required_actual']} kept)"
        )
    return {
        "images": len(images),
        "outputs": {r.name: r.to_dict() for r in outputs},
        "detections": summary,
        "match_rate": summary["match_rate"],
        **({"fidelity": label_free} if label_free else {}),
        "problems": problems,
    }


def label_free_map(decoded: Callable[..., List[tuple]], options: Any, shape: Any) -> Dict[str, Any]:
    """``verify.fidelity`` on the check images, both sides decoded as ``edgekit val`` decodes."""
    from edgekit.eval.validate import PROTOCOLS

    p = PROTOCOLS["coco"]
    val = dataclasses.replace(options, conf=p.conf, iou=p.iou, max_det=p.max_det)
    value, truth = fidelity(decoded(val), shape)
    return {"map50_95": value, "truth": truth, "truth_conf": TRUTH_CONF}
