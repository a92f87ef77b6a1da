"""The house rule on size: no module over 400 lines (data tables aside), no function over 60."""

from __future__ import annotations

from pathlib import Path

#: modules that are data tables, not code (the device catalog: every Jetson x JetPack row)
DATA_MODULES = {"edgekit/devices/catalog.py"}
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 60


def test_modules_and_functions_stay_small() -> None:
    """No module over 400 lines (data tables aside) and no function over 60 lines in edgekit/."""
    import ast

    root = Path(__file__).resolve().parents[1]
    big, long = [], []
    for path in sorted((root / "edgekit").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        source = path.read_text()
        if source.count("\n") > MAX_MODULE_LINES and rel not in DATA_MODULES:
            big.append(f"{rel}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{rel}:{node.lineno} {node.name}: {lines} lines")
    assert not big and not long, big + long
