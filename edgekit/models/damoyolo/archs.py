"""DAMO-YOLO architectures as edgekit data.

The numbers restate the facts of the official configs (``configs/damoyolo_tinynas*.py``)
and their TinyNAS structure lists (``damo/base_models/backbones/nas_backbones/*.txt``)
of ``tinyvision/DAMO-YOLO``. The checkpoint holds no architecture, so this table is what
a checkpoint is matched against.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Dict, Tuple


@dataclass(frozen=True)
class Stage:
    """One TinyNAS ``SuperResConv*`` entry: ``blocks`` residual blocks ``cin -> cout``."""

    cin: int
    cout: int
    btn: int  # bottleneck width
    stride: int
    blocks: int  # 'L' of the structure list
    kind: str = "k1kx"  # "k1kx" (1x1 then kxk) or "kxkx" (kxk then kxk)
    k: int = 3


@dataclass(frozen=True)
class DamoArch:
    """Everything needed to rebuild a DAMO-YOLO model (TinyNAS_res / _csp / _mob)."""

    name: str
    backbone: str  # "res" (TinyNAS_res), "csp" (TinyNAS_csp) or "mob" (TinyNAS_mob, Nano)
    stem_out: int  # ConvKXBNRELU entry (built as Focus)
    stages: Tuple[Stage, ...]
    backbone_act: str
    neck_in: Tuple[int, int, int]
    neck_out: Tuple[int, int, int]
    neck_depth: float
    neck_hidden_ratio: float
    neck_act: str
    stem_k: int = 3
    use_focus: bool = True
    neck_depthwise: bool = False  # Nano: DepthwiseConv + MobileV3 blocks in the neck
    with_spp: bool = True
    reg_max: int = 16
    head_kernel: int = 3
    strides: Tuple[int, int, int] = (8, 16, 32)
    imgsz: int = 640
    legacy: bool = False  # legacy heads carry one extra (unused) class channel
    extra: Dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def out_indices(self) -> Tuple[int, ...]:
        return (2, 3, 4) if self.backbone == "csp" else (2, 4, 5)

    @property
    def neck_blocks(self) -> int:
        """Blocks per CSPStage: Python's ``round(3 * depth)`` (banker's rounding, as official)."""
        return round(3 * self.neck_depth)

    def with_(self, **changes: object) -> DamoArch:
        return replace(self, **changes)  # type: ignore[arg-type]


def _stages(kind: str, rows: Tuple[Tuple[int, int, int, int, int], ...]) -> Tuple[Stage, ...]:
    return tuple(Stage(cin, cout, btn, s, n, kind) for cin, cout, btn, s, n in rows)


# (cin, cout, btn, stride, L) from the TinyNAS structure files.
_L20_K1KX = _stages(  # tinynas_L20_k1kx.txt (T)
    "k1kx",
    (
        (24, 64, 24, 2, 2),
        (64, 96, 64, 2, 2),
        (96, 192, 96, 2, 2),
        (192, 192, 152, 1, 2),
        (192, 384, 192, 2, 1),
    ),
)
_L25_K1KX = _stages(  # tinynas_L25_k1kx.txt (S)
    "k1kx",
    (
        (32, 128, 24, 2, 1),
        (128, 128, 88, 2, 5),
        (128, 256, 128, 2, 3),
        (256, 256, 120, 1, 2),
        (256, 512, 144, 2, 1),
    ),
)
_L35_KXKX = _stages(  # tinynas_L35_kxkx.txt (M)
    "kxkx",
    (
        (32, 128, 64, 2, 2),
        (128, 128, 64, 2, 4),
        (128, 256, 256, 2, 4),
        (256, 256, 256, 1, 4),
        (256, 512, 256, 2, 3),
    ),
)
_L45_KXKX = _stages(  # tinynas_L45_kxkx.txt (L)
    "kxkx",
    (
        (32, 128, 96, 2, 3),
        (128, 128, 96, 2, 5),
        (128, 256, 384, 2, 5),
        (256, 256, 384, 1, 5),
        (256, 512, 384, 2, 4),
    ),
)

# (cin, cout, btn, stride, L) of tinynas_nano_{small,middle,large}.txt (btn unused by MobileV3 blocks)
_NANO_S = _stages(
    "k1kx",
    ((16, 24, 24, 2, 1), (24, 40, 64, 2, 2), (40, 64, 40, 2, 2), (64, 80, 152, 1, 2), (80, 160, 192, 2, 2)),
)
_NANO_M = _stages(
    "k1kx",
    (
        (16, 40, 24, 2, 2),
        (40, 64, 64, 2, 2),
        (64, 112, 40, 2, 2),
        (112, 128, 152, 1, 2),
        (128, 256, 192, 2, 1),
    ),
)
_NANO_L = _stages(
    "k1kx",
    (
        (24, 48, 24, 2, 1),
        (48, 80, 64, 2, 2),
        (80, 160, 40, 2, 2),
        (160, 160, 152, 1, 3),
        (160, 320, 192, 2, 2),
    ),
)


def _nano(name: str, stem: int, stages: Tuple[Stage, ...], width: Tuple[int, int, int]) -> DamoArch:
    """configs/damoyolo_tinynasL18_Ns.py, L18_Nm.py, L20_Nl.py: TinyNAS_mob, depthwise neck, 1x1 head."""
    return DamoArch(
        name, "mob", stem, stages, "silu",
        neck_in=width, neck_out=width, neck_depth=0.5, neck_hidden_ratio=0.5, neck_act="silu",
        use_focus=False, neck_depthwise=True, reg_max=7, head_kernel=1, imgsz=416,
    )  # fmt: skip


ARCHS: Dict[str, DamoArch] = {
    a.name: a
    for a in (
        DamoArch(  # configs/damoyolo_tinynasL20_T.py
            "damoyolo-t", "res", 24, _L20_K1KX, "relu",
            neck_in=(96, 192, 384), neck_out=(64, 128, 256),
            neck_depth=1.0, neck_hidden_ratio=1.0, neck_act="relu",
        ),
        DamoArch(  # configs/damoyolo_tinynasL25_S.py
            "damoyolo-s", "res", 32, _L25_K1KX, "relu",
            neck_in=(128, 256, 512), neck_out=(128, 256, 512),
            neck_depth=1.0, neck_hidden_ratio=0.75, neck_act="relu",
        ),
        DamoArch(  # configs/damoyolo_tinynasL35_M.py
            "damoyolo-m", "csp", 32, _L35_KXKX, "silu",
            neck_in=(128, 256, 512), neck_out=(128, 256, 512),
            neck_depth=1.5, neck_hidden_ratio=1.0, neck_act="silu",
        ),
        DamoArch(  # configs/damoyolo_tinynasL45_L.py
            "damoyolo-l", "csp", 32, _L45_KXKX, "silu",
            neck_in=(128, 256, 512), neck_out=(128, 256, 512),
            neck_depth=2.0, neck_hidden_ratio=1.0, neck_act="silu",
        ),
        _nano("damoyolo-ns", 16, _NANO_S, (40, 80, 160)),
        _nano("damoyolo-nm", 16, _NANO_M, (64, 128, 256)),
        _nano("damoyolo-nl", 24, _NANO_L, (80, 160, 320)),
    )
}  # fmt: skip

#: Accepted spellings of the variant names (``--arch``).
ALIASES: Dict[str, str] = {
    **{k: k for k in ARCHS},
    **{k.split("-")[1]: k for k in ARCHS},
    **{f"damoyolo_{k.split('-')[1]}": k for k in ARCHS},
    "damoyolo_tinynasl20_t": "damoyolo-t",
    "damoyolo_tinynasl25_s": "damoyolo-s",
    "damoyolo_tinynasl35_m": "damoyolo-m",
    "damoyolo_tinynasl45_l": "damoyolo-l",
    "damoyolo_tinynasl18_ns": "damoyolo-ns",
    "damoyolo_tinynasl18_nm": "damoyolo-nm",
    "damoyolo_tinynasl20_nl": "damoyolo-nl",
}


def get_arch(name: str) -> DamoArch:
    """Look up a variant by name (``damoyolo-t``, ``t``, ``damoyolo_tinynasL20_T``, ...)."""
    key = ALIASES.get(name.strip().lower().replace(" ", ""))
    if key is None:
        known = ", ".join(sorted(ARCHS))
        raise KeyError(f"unknown DAMO-YOLO variant '{name}' (known: {known})")
    return ARCHS[key]
