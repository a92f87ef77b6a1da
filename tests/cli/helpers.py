"""Run the real ``edgekit`` CLI in a subprocess."""

from __future__ import annotations

import subprocess
import sys


def run_cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgekit", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """Assert a user error: non-zero exit, exactly one line on stderr containing ``fragments``."""
    assert proc.returncode != 0, proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
