"""Run a bundle on .npy images with the Python API and print one JSON line per image.

    python tools/aarch64_detect.py BUNDLE NPY_DIR BACKEND

What an embedded Python app on the device does (``edgekit.Detector`` on numpy frames), with
nothing but numpy and the backend installed: no OpenCV is needed to read ``.npy`` files. The
lines have ``edgekit predict --json``'s form (``image``, ``detections``), for
tools/aarch64_compare.py. Runs on Python 3.8+.
"""

import json
import sys
from pathlib import Path

import numpy as np

from edgekit import Detector


def main() -> int:
    bundle, folder, backend = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    with Detector(bundle, backend=backend) as det:
        for path in sorted(folder.glob("*.npy")):
            detections = det(np.load(str(path)))
            print(json.dumps({"image": path.stem, "detections": detections.to_dict()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
