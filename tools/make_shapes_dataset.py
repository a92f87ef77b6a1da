"""Write the project's synthetic shapes dataset (dev tool; the sizes every fixture uses).

    .venv/bin/python tools/make_shapes_dataset.py /data/shapes            # 4000 / 500 / 500
    .venv/bin/python tools/make_shapes_dataset.py /tmp/tiny --train 64 --val 16 --test 16

The output (images, YOLO labels, COCO json, data.yaml) is a pure function of the sizes,
the seed and the generator version: regenerate it instead of copying it around.
"""

from __future__ import annotations

import argparse
import time

from edgekit.testing import generate

DEFAULTS = {"train": 4000, "val": 500, "test": 500, "seed": 0, "imgsz": 320}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out_dir", help="folder to write (refused if it holds images, unless --overwrite)")
    for name in ("train", "val", "test", "seed", "imgsz"):
        parser.add_argument(f"--{name}", type=int, default=DEFAULTS[name])
    parser.add_argument("--workers", type=int, default=2, help="processes drawing images")
    parser.add_argument("--photos", default=None, help="folder of real photos to crop backgrounds from")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    info = generate(
        args.out_dir,
        args.train,
        args.val,
        args.test,
        seed=args.seed,
        imgsz=args.imgsz,
        photos_dir=args.photos,
        workers=args.workers,
        overwrite=args.overwrite,
    )
    print(f"wrote {info.root} in {time.perf_counter() - start:.1f} s ({info.data_yaml})")
    for split, s in info.splits.items():
        small, medium, large = (100 * n / max(s.objects, 1) for n in (s.small, s.medium, s.large))
        print(
            f"  {split:<5} {s.images:>5} images {s.objects:>6} objects  "
            f"small {small:.0f}%  medium {medium:.0f}%  large {large:.0f}%  "
            f"occluded {100 * s.occluded / max(s.objects, 1):.0f}%"
        )


if __name__ == "__main__":
    main()
