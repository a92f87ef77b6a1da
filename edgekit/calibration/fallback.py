"""The INT8 fallback search as pure functions: which nodes the next round keeps float, and which
round the bundle keeps.

A backend's INT8 model is quantized once (round 0). When it misses a bound, or with ``--val``
loses more than the aim (``MAP_DROP_AIM`` of the bound), the search keeps float first the head's
branches (Q/DQ backends), then the most sensitive layers on top, ``FALLBACK_STEPS`` at a time,
until a round meets the bounds within the aim or the candidates run out. The round that met the
bounds with the smallest drop is kept (the earlier one, with fewer float layers, on a tie); when
that is not the last round it is quantized again (``restored``). ``search`` drives the rounds
through an ``evaluate`` callback, the only part that quantizes and measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

from edgekit.bundle.int8_record import FallbackRound

#: layers kept float per round (cumulative, most sensitive first)
FALLBACK_STEPS: Tuple[int, ...] = (2, 4, 8, 16)
#: with --val the search aims at this share of the mAP bound: the user's images are not the
#: check's (YOLO11 fixture, onnxruntime: 0.5 points on the val split came out as 0.67 on test)
MAP_DROP_AIM = 0.5


@dataclass(frozen=True)
class Candidates:
    """What the search may keep float: the head's branches (kept together, first) and the other
    weighted layers, most sensitive first."""

    head: Tuple[str, ...] = ()
    ranked: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Aim:
    """The mAP bound (points) and the share of it the search aims at."""

    max_map_drop: float
    share: float = MAP_DROP_AIM

    @property
    def drop(self) -> float:
        return self.share * self.max_map_drop

    def short(self, r: FallbackRound) -> bool:
        """Within the bound but above the aim."""
        return r.map_drop_points is not None and r.map_drop_points > self.drop

    def wants_more(self, r: FallbackRound) -> bool:
        return not r.accepted or self.short(r)

    def why(self, r: FallbackRound) -> str:
        return "; ".join(r.misses) or f"mAP50-95 drop {r.drop:.2f} points > aim {self.drop:.2f}"


@dataclass(frozen=True)
class Trial:
    """One round to quantize: the nodes it keeps float, and why."""

    keep_float: Tuple[str, ...] = ()
    float_layers: Tuple[str, ...] = ()  # the ranked layers among them
    head_float: bool = False
    restore: bool = False  # a re-quantization of an earlier, better round
    reason: str = ""

    def outcome(self, misses: Sequence[str], match_rate: float, drop: Optional[float]) -> FallbackRound:
        """The round this trial gave, with what it missed and measured."""
        return FallbackRound(
            self.float_layers, self.head_float, tuple(misses), match_rate, drop, self.restore
        )

    def line(self, backend: str) -> str:
        """The log line announcing it."""
        what = describe(self.head_float, len(self.float_layers))
        if self.restore:
            return f"{backend} int8: back to the round with {what} float ({self.reason})"
        return f"{backend} int8: {self.reason}: keeping {what} float"


def describe(head: bool, layers: int) -> str:
    """What a round keeps float, for messages: ``the head's branches + 4 layers``."""
    if not head:
        return f"{layers} layers"
    return "the head's branches" + (f" + {layers} layers" if layers else "")


def best_round(rounds: Sequence[FallbackRound]) -> Optional[int]:
    """The accepted round with the smallest drop, the earliest on a tie; None when none passed."""
    best: Optional[int] = None
    for i, r in enumerate(rounds):
        if r.accepted and (best is None or r.drop < rounds[best].drop):
            best = i
    return best


def next_trial(
    rounds: Sequence[FallbackRound], candidates: Candidates, aim: Aim, steps: Sequence[int] = FALLBACK_STEPS
) -> Optional[Trial]:
    """The round after ``rounds`` (round 0 first), or None when the search is over."""
    last, tried = rounds[-1], len(rounds) - 1
    if last.restored:
        return None
    counts = ((0,) if candidates.head else ()) + tuple(steps)
    exhausted = tried >= len(counts) or (tried > 0 and counts[tried - 1] >= len(candidates.ranked))
    if aim.wants_more(last) and not exhausted:
        layers = candidates.ranked[: counts[tried]]
        head = bool(candidates.head)
        return Trial(candidates.head + layers, layers, head, reason=aim.why(last))
    best = best_round(rounds)
    if tried == 0 or best is None or best == tried:
        return None
    chosen = rounds[best]
    head = candidates.head if chosen.head_float else ()
    return Trial(head + chosen.float_layers, chosen.float_layers, chosen.head_float, True, "smallest drop")


def search(
    first: FallbackRound,
    candidates: Candidates,
    aim: Aim,
    evaluate: Callable[[Trial], FallbackRound],
    steps: Sequence[int] = FALLBACK_STEPS,
) -> List[FallbackRound]:
    """Every round from ``first`` on, each next one quantized and measured by ``evaluate``."""
    rounds = [first]
    trial = next_trial(rounds, candidates, aim, steps)
    while trial is not None:
        rounds.append(evaluate(trial))
        trial = next_trial(rounds, candidates, aim, steps)
    return rounds
