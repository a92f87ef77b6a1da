"""On-device pre- and post-processing in numpy (+ any cv2 that imports)."""

from edgekit.decoding.decoders import DECODERS, DecodeOptions, Decoder, make_decoder
from edgekit.decoding.detections import Detections
from edgekit.decoding.images import load_image
from edgekit.decoding.preprocess import Geometry, Preprocessor

__all__ = [
    "DECODERS",
    "DecodeOptions",
    "Decoder",
    "Detections",
    "Geometry",
    "Preprocessor",
    "load_image",
    "make_decoder",
]
