"""Convert every checkpoint of a folder for one target, one line per bundle.

    python examples/convert_folder.py checkpoints/ --target rpi5 --out bundles/

Each ``.pt`` / ``.pth`` becomes ``OUT/<name>-<target>.edgekit``, verified against PyTorch like
``edgekit convert`` does. A checkpoint that fails is reported in one line and the others go on;
the exit status is 1 when any failed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import List, Optional

import edgekit
from edgekit.errors import EdgekitError


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a folder of checkpoints")
    parser.add_argument("--target", default="cpu", help="device profile (edgekit devices)")
    parser.add_argument("--out", type=Path, default=Path("bundles"), help="where the bundles go")
    parser.add_argument("--imgsz", type=int, help="input size (default: the checkpoint's training size)")
    parser.add_argument("--backend", help="build only this backend")
    args = parser.parse_args(argv)

    checkpoints = sorted(p for p in args.folder.iterdir() if p.suffix in (".pt", ".pth"))
    if not checkpoints:
        print(f"{args.folder}: no .pt or .pth files")
        return 1
    failed = 0
    for ckpt in checkpoints:
        dest = args.out / f"{ckpt.stem}-{args.target}.edgekit"
        try:
            # measure=False: no per-pass latency timing, faster over many files
            edgekit.convert(
                ckpt, target=args.target, imgsz=args.imgsz, backend=args.backend, output=dest, measure=False
            )
        except EdgekitError as exc:
            print(f"{ckpt.name}: failed: {exc}")
            failed += 1
            continue
        m = edgekit.read_bundle(dest).manifest
        models = ", ".join(f"{a.backend} {a.precision}" for a in m.artifacts)
        what = f"{m.model.family} {m.model.variant}, {len(m.class_names)} classes"
        print(f"{ckpt.name} -> {dest} ({what}; {models})")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
