"""edgekit.progress: native and third-party chatter kept back (and shown with verbose or on a
failure), edgekit's own stderr untouched, one live line per step in a terminal."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = """
import os, sys, warnings
from edgekit import progress
verbose, fail = {verbose}, {fail}
with progress.session(progress=False, verbose=verbose):
    with progress.step("a step"):
        os.write(2, b"native chatter\\n")
        print("edgekit says", file=sys.stderr)
        warnings.warn_explicit("a torch warning", UserWarning, "x.py", 1, module="torch.fx.x")
        warnings.warn_explicit("an edgekit warning", UserWarning, "y.py", 1, module="edgekit.y")
        if fail:
            raise SystemExit(3)
os.write(2, b"after the step\\n")
"""


def run(verbose: bool, fail: bool = False) -> subprocess.CompletedProcess:
    code = textwrap.dedent(SCRIPT.format(verbose=verbose, fail=fail))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_quiet_keeps_native_and_third_party_output_back() -> None:
    proc = run(verbose=False)
    assert proc.returncode == 0, proc.stderr
    assert "edgekit says" in proc.stderr and "an edgekit warning" in proc.stderr
    assert "native chatter" not in proc.stderr and "a torch warning" not in proc.stderr
    assert "after the step" in proc.stderr  # file descriptor 2 is back after the step


def test_verbose_shows_everything() -> None:
    proc = run(verbose=True)
    assert proc.returncode == 0, proc.stderr
    for text in ("native chatter", "edgekit says", "a torch warning", "an edgekit warning"):
        assert text in proc.stderr, text


def test_a_failing_step_replays_what_it_kept_back() -> None:
    proc = run(verbose=False, fail=True)
    assert proc.returncode == 3 and "native chatter" in proc.stderr
    assert "after the step" not in proc.stderr


def test_outside_a_session_steps_and_notes_do_nothing(capsys: pytest.CaptureFixture) -> None:
    from edgekit import progress

    with progress.step("nothing"):
        progress.note("shown nowhere")
    assert capsys.readouterr() == ("", "")


def test_chatter_drops_a_librarys_prints_only_inside_a_quiet_session(capsys: pytest.CaptureFixture) -> None:
    from edgekit import progress

    with progress.chatter():
        print("no session: printed")
    with progress.session(progress=False), progress.chatter():
        print("Collecting tensor data and making histogram ...")
    with progress.session(progress=False, verbose=True), progress.chatter():
        print("verbose: printed")
    out = capsys.readouterr().out
    assert "no session: printed" in out and "verbose: printed" in out and "Collecting" not in out
