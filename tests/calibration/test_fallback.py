"""The INT8 fallback search (``edgekit.calibration.fallback``): pure, driven by scripted rounds.

Each script gives the val drop (mAP50-95 points) a round shows for the count of nodes it keeps
float; the bound is 0.5 points, the aim 0.25.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

from edgekit.bundle.int8_record import BackendInt8, FallbackRound, Int8Report
from edgekit.calibration.fallback import Aim, Candidates, Trial, best_round, next_trial, search

AIM = Aim(max_map_drop=0.5)
RANKED = tuple(f"conv{i}" for i in range(20))


def scripted(drops: Dict[int, float], head: Sequence[str] = ()) -> Tuple[List[FallbackRound], List[Trial]]:
    """Every round of the search over ``drops``, and the trials it asked for."""
    trials: List[Trial] = []

    def evaluate(trial: Trial) -> FallbackRound:
        trials.append(trial)
        return outcome(trial, drops[len(trial.keep_float)])

    first = outcome(Trial(), drops[0])
    return search(first, Candidates(tuple(head), RANKED), AIM, evaluate), trials


def outcome(trial: Trial, drop: float) -> FallbackRound:
    misses = [f"mAP50-95 drop {drop:.2f} points > 0.5"] if drop > 0.5 else []
    return trial.outcome(misses, 1.0, drop)


def test_a_round_within_the_aim_needs_no_search() -> None:
    rounds, trials = scripted({0: 0.2})
    assert trials == [] and len(rounds) == 1 and rounds[0].accepted


def test_the_search_goes_on_to_the_aim_and_stops_there() -> None:
    rounds, trials = scripted({0: 0.4, 2: 0.2, 4: 0.1})  # 0.4 meets the bound 0.5, not the aim 0.25
    assert [len(t.keep_float) for t in trials] == [2]
    assert rounds[-1].accepted and rounds[-1].map_drop_points == 0.2
    assert trials[0].line("onnxruntime").endswith("> aim 0.25: keeping 2 layers float")


def test_it_returns_to_the_round_with_the_smallest_drop() -> None:
    rounds, trials = scripted({0: 0.4, 2: 0.6, 4: 0.45, 8: 0.7, 16: 0.8})
    assert [len(t.keep_float) for t in trials] == [2, 4, 8, 16, 0]  # the first round, re-quantized
    assert [r.accepted for r in rounds] == [True, False, True, False, False, True]
    assert rounds[-1].restored and rounds[-1].float_layers == () and rounds[-1].map_drop_points == 0.4
    assert (
        trials[-1].line("openvino") == "openvino int8: back to the round with 0 layers float (smallest drop)"
    )


def test_it_keeps_fewer_float_layers_when_drops_tie() -> None:
    rounds, _ = scripted({0: 0.36, 2: 0.37, 4: 0.36, 8: 0.48, 16: 0.4})
    assert best_round(rounds[:-1]) == 0 and rounds[-1].restored and rounds[-1].float_layers == ()


def test_a_search_that_never_meets_the_bound_is_not_accepted() -> None:
    rounds, trials = scripted({0: 0.9, 2: 0.8, 4: 0.7, 8: 0.6, 16: 0.55})
    assert [len(t.keep_float) for t in trials] == [2, 4, 8, 16]
    assert not rounds[-1].accepted and "0.55 points > 0.5" in rounds[-1].misses[0]
    assert best_round(rounds) is None


def test_the_head_goes_float_first_then_ranked_layers_on_top() -> None:
    head = ("h1", "h2", "h3")  # drops are keyed by the count of nodes kept float
    rounds, trials = scripted({0: 0.6, 3: 0.45, 5: 0.2}, head=head)
    assert [t.keep_float for t in trials] == [head, (*head, "conv0", "conv1")]
    assert [(r.head_float, r.float_layers) for r in rounds] == [
        (False, ()),
        (True, ()),
        (True, ("conv0", "conv1")),
    ]
    assert trials[0].line("tensorrt").endswith("keeping the head's branches float")
    assert trials[1].line("tensorrt").endswith("keeping the head's branches + 2 layers float")


def test_the_head_round_is_restored_with_its_head_when_later_rounds_do_worse() -> None:
    rounds, trials = scripted({0: 0.6, 2: 0.3, 4: 0.7, 6: 0.6, 10: 0.8, 18: 0.9}, head=("h1", "h2"))
    assert [len(t.keep_float) for t in trials] == [2, 4, 6, 10, 18, 2]
    assert trials[-1].keep_float == ("h1", "h2") and rounds[-1].restored and rounds[-1].head_float
    assert rounds[-1].map_drop_points == 0.3


def test_the_search_stops_when_the_candidates_run_out() -> None:
    few = Candidates((), ("a", "b", "c"))
    rounds = [outcome(Trial(), 0.9)]
    trial = next_trial(rounds, few, AIM)
    assert trial is not None and trial.keep_float == ("a", "b")
    rounds.append(outcome(trial, 0.8))
    trial = next_trial(rounds, few, AIM)
    assert trial is not None and trial.keep_float == ("a", "b", "c")  # 4 asked, 3 there
    rounds.append(outcome(trial, 0.7))
    assert next_trial(rounds, few, AIM) is None


def test_the_report_reads_back_what_it_wrote_and_refuses_a_stray_field() -> None:
    import pytest

    from edgekit.bundle._fields import FieldError

    rounds, _ = scripted({0: 0.4, 2: 0.6, 4: 0.45, 8: 0.7, 16: 0.8})
    backend = BackendInt8(
        quantizer={"method": "minmax"},
        recipe={"backend": "onnxruntime"},
        weights={"checked": 3},
        agreement={"match_rate": 1.0},
        rounds=tuple(rounds),
        accepted=True,
        map_drop_points=0.4,
    )
    report = Int8Report(calibration={"planned": 12}, backends={"onnxruntime": backend})
    assert Int8Report.from_dict(report.to_dict(), "int8.") == report
    bad = report.to_dict()
    bad["backends"]["onnxruntime"]["rounds"][1]["float_layer"] = []
    with pytest.raises(
        FieldError, match=r"unknown field 'int8.backends.onnxruntime.rounds\[1\].float_layer'"
    ):
        Int8Report.from_dict(bad, "int8.")
