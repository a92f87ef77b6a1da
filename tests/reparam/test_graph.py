"""Layer-graph pruning for PGI stripping, on a hand-made YOLOv9-C-like layer list."""

from __future__ import annotations

import pytest

from edgekit.reparam.graph import reachable_layers, renumber_layers, resolve_from, save_indices

# 0 Silence(input) | 1-4 main backbone/neck | 5-7 auxiliary reversible branch | 8 DualDetect(aux, main)
FROMS = [-1, -1, -1, -1, -1, 2, 0, [5, 6], [7, 3, 4]]


def test_resolve_from_relative_and_absolute() -> None:
    assert resolve_from(-1, 0) == [-1]  # layer 0 reads the network input
    assert resolve_from([-1, 2], 5) == [4, 2]
    assert resolve_from(-3, 5) == [2]
    with pytest.raises(ValueError, match="not an earlier layer"):
        resolve_from(5, 5)


def test_reachable_from_the_main_head_inputs() -> None:
    assert reachable_layers(FROMS, [3, 4]) == [0, 1, 2, 3, 4]
    assert reachable_layers(FROMS, [8]) == list(range(9))
    with pytest.raises(ValueError, match="does not exist"):
        reachable_layers(FROMS, [9])


def test_strip_aux_branch_renumber_and_remap() -> None:
    froms = list(FROMS)
    froms[8] = [3, 4]  # the family keeps only the main head inputs
    keep = reachable_layers(froms, [8])
    assert keep == [0, 1, 2, 3, 4, 8]
    mapping, new = renumber_layers(froms, keep, bypass={0})  # Silence goes: i -> i - 1, as gelan-c
    assert mapping == {1: 0, 2: 1, 3: 2, 4: 3, 8: 4}
    assert new == [-1, -1, -1, -1, [2, -1]]
    assert save_indices(new) == [2]


def test_renumber_refuses_a_broken_selection() -> None:
    with pytest.raises(ValueError, match="layer 7 reads layer 5, which is not kept"):
        renumber_layers(FROMS, [0, 1, 2, 6, 7])
    with pytest.raises(ValueError, match="bypassed layer 7 has 2 inputs"):
        renumber_layers(FROMS, range(9), bypass={7})
    with pytest.raises(ValueError, match="reads the network input but is not the first"):
        renumber_layers(FROMS, [0, 1, 6], bypass={0})
