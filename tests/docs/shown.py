"""The shell commands the README and the docs show, and the output shown under each.

A command is a line of a ```bash (sh, shell, console) block, or a line starting with ``$ `` in
any other block, where the lines after it up to the next ``$ `` line are its shown output.
Lines ending in ``\\`` continue on the next line; a trailing ``# comment`` is not part of the
command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Tuple

ROOT = Path(__file__).resolve().parents[2]
SHELL_BLOCKS = ("bash", "sh", "shell", "console")


@dataclass(frozen=True)
class Shown:
    command: str  # one line, comment stripped, whitespace collapsed
    output: Tuple[str, ...]  # the lines shown under a ``$ `` command
    where: str  # file:line


def doc_files() -> List[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def strip_comment(line: str) -> str:
    """``line`` without a trailing shell comment (a ``#`` after whitespace, outside quotes)."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
        elif ch == "\\" and i + 1 < len(line):
            continue
    return line


def normalize(command: str) -> str:
    return " ".join(strip_comment(command).split())


def blocks(text: str) -> Iterator[Tuple[str, int, List[str]]]:
    """``(info string, first line number, lines)`` of every fenced code block."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = re.match(r"^(\s*)(```+)\s*([\w-]*)", lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, info = opening.groups()
        body, start = [], i + 2
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        yield info.lower(), start, body


def _joined(body: List[str], start: int) -> Iterator[Tuple[int, str]]:
    """The block's lines with ``\\`` continuations joined: ``(line number, text)``."""
    pending, first = "", 0
    for n, line in enumerate(body, start):
        if not pending:
            first = n
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        yield first, pending + line
        pending = ""
    if pending:
        yield first, pending


def shown_in(path: Path) -> List[Shown]:
    rel = path.relative_to(ROOT).as_posix()
    found: List[Shown] = []
    for info, start, body in blocks(path.read_text(encoding="utf-8")):
        if info in SHELL_BLOCKS:
            for n, line in _joined(body, start):
                command = normalize(line[2:] if line.startswith("$ ") else line)
                if command:
                    found.append(Shown(command, (), f"{rel}:{n}"))
            continue
        current = None
        output: List[str] = []
        for n, line in _joined(body, start):
            if line.startswith("$ "):
                if current is not None:
                    found.append(Shown(current[0], tuple(output), current[1]))
                current, output = (normalize(line[2:]), f"{rel}:{n}"), []
            elif current is not None:
                output.append(line)
        if current is not None:
            found.append(Shown(current[0], tuple(output), current[1]))
    return found


def shown_commands() -> List[Shown]:
    return [shown for path in doc_files() for shown in shown_in(path)]
