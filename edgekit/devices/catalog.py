"""The registered target profiles and their aliases.

Every profile describes the device the bundle will run on. Backend order is the speed
order we know of: Raspberry Pi 5 YOLO11n FP32 at 640 px runs OpenVINO 81 ms, onnxruntime
168 ms, TFLite 317 ms (Ultralytics Pi 5 benchmark); on Intel/AMD CPUs OpenVINO leads
onnxruntime. Jetson profiles build TensorRT engines on the device from the bundle's ONNX.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from edgekit.devices import jetpack as jp
from edgekit.devices.profiles import BackendSupport, DeviceProfile, Int8Constraints
from edgekit.errors import UnsupportedTargetError
from edgekit.registry import Registry

if TYPE_CHECKING:
    from edgekit.devices.host import HostInfo

PROFILES: Registry[DeviceProfile] = Registry("device profile")

# ---- INT8 recipes ----------------------------------------------------------------------

TRT_QDQ = Int8Constraints(
    "tensorrt",
    "qdq-s8s8-symmetric",
    "int8",
    "int8",
    True,
    True,
    False,
    note="TensorRT reads only symmetric Q/DQ (zero point 0); calibrated on any CPU with "
    "onnxruntime, engine built on the device",
)
ORT_S8S8 = Int8Constraints(
    "onnxruntime",
    "qdq-s8s8",
    "int8",
    "int8",
    False,
    True,
    False,
    note="onnxruntime QDQ, per-channel int8 weights",
)
ORT_U8S8 = Int8Constraints(
    "onnxruntime",
    "qdq-u8s8",
    "uint8",
    "int8",
    False,
    True,
    False,
    note="x86 VNNI: onnxruntime's fast x86 int8 kernels take uint8 activations x int8 weights; "
    "S8S8 Q/DQ ran slower than FP32 on a VNNI EPYC (benchmarks/int8.py)",
)
ORT_U8S8_REDUCED = Int8Constraints(
    "onnxruntime",
    "qdq-u8s8-reduce-range",
    "uint8",
    "int8",
    False,
    True,
    True,
    note="x86 without VNNI multiplies with VPMADDUBSW, whose int16 pair sums saturate: "
    "7-bit weights (reduce_range) avoid it",
)
OV_NNCF_NO_VNNI = Int8Constraints(
    "openvino",
    "nncf-ptq",
    "int8",
    "int8",
    True,
    True,
    False,
    overflow_fix="enable",
    note="NNCF post-training quantization; OverflowFix.ENABLE for CPUs without VNNI",
)
OV_NNCF = Int8Constraints(
    "openvino",
    "nncf-ptq",
    "int8",
    "int8",
    True,
    True,
    False,
    overflow_fix="disable",
    note="NNCF post-training quantization; VNNI needs no overflow fix",
)
TFLITE_INT8 = Int8Constraints(
    "tflite",
    "litert-int8",
    "int8",
    "int8",
    False,
    True,
    False,
    note="LiteRT int8 spec: per-channel symmetric weights, asymmetric activations; float input/output",
)

# ---- backend sets ------------------------------------------------------------------------

_TRT_ALL = (BackendSupport("tensorrt", ("fp32", "fp16", "int8")),)
_TRT_NO_INT8 = (BackendSupport("tensorrt", ("fp32", "fp16")),)
_X86 = (
    BackendSupport("openvino", ("fp32", "int8")),
    BackendSupport("onnxruntime", ("fp32", "int8")),
    BackendSupport("tflite", ("fp32", "int8"), explicit=True),  # --backend tflite only
)
# CPUs that may have bf16 arithmetic (AVX512_BF16: Zen 4+, Cooper Lake; AMX: Sapphire Rapids+)
_X86_BF16 = (BackendSupport("openvino", ("fp32", "bf16", "int8")), *_X86[1:])
_RPI5 = (
    BackendSupport("openvino", ("fp32", "fp16")),
    BackendSupport("onnxruntime", ("fp32", "int8")),
    BackendSupport("tflite", ("fp32", "fp16", "int8")),
)
_RPI4 = (
    BackendSupport("openvino", ("fp32",)),
    BackendSupport("onnxruntime", ("fp32", "int8")),
    BackendSupport("tflite", ("fp32", "int8")),
)
_ARM64 = (
    BackendSupport("onnxruntime", ("fp32", "int8")),
    BackendSupport("openvino", ("fp32",)),
    BackendSupport("tflite", ("fp32", "int8")),
)

_ORIN_JP = (jp.JP51, jp.JP60, jp.JP61, jp.JP62, jp.JP72)
_JETSON_NOTE = "TensorRT engines are tied to the GPU and TensorRT version: edgekit builds them on the device"
_ARM_OV_NOTE = "OpenVINO on ARM defaults to f16 inference: edgekit sets INFERENCE_PRECISION_HINT explicitly"
_X86_FP16_NOTE = "no FP16 arithmetic: use fp32 (OpenVINO IR already stores fp16 weights) or int8"
_X86_BF16_NOTE = (
    "--precision bf16: OpenVINO computes in bf16 where the CPU has AVX512_BF16 or AMX, in f32 elsewhere"
)


def _x86(
    name: str,
    title: str,
    cpu: str,
    int8_constraints: Tuple[Int8Constraints, ...],
    cpu_flags: Tuple[str, ...],
    *notes: str,
    backends: Tuple[BackendSupport, ...] = _X86,
) -> DeviceProfile:
    """An x86-64 ISA level: OpenVINO then onnxruntime, fp32 by default, no FP16 arithmetic."""
    return DeviceProfile(
        name=name,
        title=title,
        family="x86",
        arch="x86_64",
        cpu=cpu,
        accelerator=None,
        memory_gb=(),
        backends=backends,
        default_precision="fp32",
        int8=True,
        fp16=False,
        graph_nms=True,
        int8_constraints=int8_constraints,
        cpu_flags=cpu_flags,
        notes=(_X86_FP16_NOTE, *notes),
    )


def _jetson(
    name: str,
    title: str,
    cpu: str,
    gpu: str,
    memory: Tuple[int, ...],
    *,
    jetpacks: Tuple[jp.JetPackRelease, ...],
    default_jetpack: str,
    int8: bool = True,
    dla_cores: int = 0,
    aliases: Tuple[str, ...] = (),
    notes: Tuple[str, ...] = (),
) -> DeviceProfile:
    return DeviceProfile(
        name=name,
        title=title,
        family="jetson",
        arch="aarch64",
        cpu=cpu,
        accelerator=gpu,
        memory_gb=memory,
        backends=_TRT_ALL if int8 else _TRT_NO_INT8,
        default_precision="fp16",
        int8=int8,
        fp16=True,
        dla_cores=dla_cores,
        jetpacks=jetpacks,
        default_jetpack=default_jetpack,
        max_opset=max(r.max_opset for r in jetpacks),
        graph_nms=True,
        int8_constraints=(TRT_QDQ,) if int8 else (),
        aliases=aliases,
        notes=(_JETSON_NOTE, *notes),
    )


_CATALOG: Tuple[DeviceProfile, ...] = (
    _jetson(
        "jetson-nano",
        "NVIDIA Jetson Nano",
        "Cortex-A57 x4",
        "Maxwell sm_53, 128 CUDA cores",
        (2, 4),
        jetpacks=(jp.JP46,),
        default_jetpack="4.6",
        int8=False,
        notes=("Maxwell has no INT8 path: FP16 is the fastest precision",),
    ),
    _jetson(
        "jetson-xavier-nx",
        "NVIDIA Jetson Xavier NX",
        "Carmel x6",
        "Volta sm_72, 384 CUDA cores",
        (8, 16),
        jetpacks=(jp.JP46, jp.JP51),
        default_jetpack="5.1",
        dla_cores=2,
        notes=("JetPack 6 and later do not support Xavier",),
    ),
    _jetson(
        "jetson-agx-xavier",
        "NVIDIA Jetson AGX Xavier",
        "Carmel x8",
        "Volta sm_72, 512 CUDA cores",
        (8, 16, 32, 64),
        jetpacks=(jp.JP46, jp.JP51),
        default_jetpack="5.1",
        dla_cores=2,
        notes=("JetPack 6 and later do not support Xavier",),
    ),
    _jetson(
        "jetson-orin-nano",
        "NVIDIA Jetson Orin Nano",
        "Cortex-A78AE x6",
        "Ampere sm_87, 512/1024 CUDA cores",
        (4, 8),
        jetpacks=_ORIN_JP,
        default_jetpack="6.2",
        aliases=("jetson", "orin-nano"),
        notes=("Orin Nano has no DLA", "JetPack 5.1 means 5.1.1 or later on Orin Nano"),
    ),
    _jetson(
        "jetson-orin-nx",
        "NVIDIA Jetson Orin NX",
        "Cortex-A78AE x6/x8",
        "Ampere sm_87, 1024 CUDA cores",
        (8, 16),
        jetpacks=_ORIN_JP,
        default_jetpack="6.2",
        dla_cores=2,
        aliases=("orin-nx",),
        notes=("the 8 GB module has one DLA core (use --dla-core 0)",),
    ),
    _jetson(
        "jetson-agx-orin",
        "NVIDIA Jetson AGX Orin",
        "Cortex-A78AE x8/x12",
        "Ampere sm_87, 1792/2048 CUDA cores",
        (32, 64),
        jetpacks=_ORIN_JP,
        default_jetpack="6.2",
        dla_cores=2,
        aliases=("agx-orin",),
    ),
    _jetson(
        "jetson-thor",
        "NVIDIA Jetson Thor",
        "Neoverse-V3AE x14",
        "Blackwell, 2560 CUDA cores",
        (64, 128),
        jetpacks=(jp.JP70, jp.JP71, jp.JP72),
        default_jetpack="7.1",
        aliases=("thor",),
        notes=("Thor has no DLA",),
    ),
    DeviceProfile(
        name="rpi5",
        title="Raspberry Pi 5",
        family="raspberry-pi",
        arch="aarch64",
        cpu="Cortex-A76 x4 (ARMv8.2: fp16, dot product)",
        accelerator=None,
        memory_gb=(2, 4, 8, 16),
        backends=_RPI5,
        default_precision="fp32",
        int8=True,
        fp16=True,
        python="3.11",
        os="Raspberry Pi OS 64-bit (Bookworm)",
        graph_nms=True,
        int8_constraints=(ORT_S8S8, TFLITE_INT8),
        aliases=("rpi", "pi5"),
        notes=(_ARM_OV_NOTE, "OpenVINO INT8 on ARM is not used: int8 plans use onnxruntime or LiteRT"),
    ),
    DeviceProfile(
        name="rpi4",
        title="Raspberry Pi 4",
        family="raspberry-pi",
        arch="aarch64",
        cpu="Cortex-A72 x4 (ARMv8.0: no fp16 arithmetic, no dot product)",
        accelerator=None,
        memory_gb=(1, 2, 4, 8),
        backends=_RPI4,
        default_precision="fp32",
        int8=True,
        fp16=False,
        python="3.11",
        os="Raspberry Pi OS 64-bit (Bookworm)",
        graph_nms=True,
        int8_constraints=(ORT_S8S8, TFLITE_INT8),
        aliases=("pi4",),
        notes=(
            "without dot-product instructions INT8 gains are small; fp32 is the default",
            "backend order taken from Raspberry Pi 5 measurements",
        ),
    ),
    _x86(
        "x86-avx2",
        "x86-64 CPU with AVX2 (no VNNI)",
        "x86-64-v3 (AVX2, FMA)",
        (OV_NNCF_NO_VNNI, ORT_U8S8_REDUCED),
        ("avx2",),
    ),
    _x86(
        "x86-vnni",
        "x86-64 CPU with AVX-512 VNNI or AVX-VNNI",
        "x86-64 with VNNI (Cascade Lake+, Ice Lake+, Alder Lake+, Zen 4+)",
        (OV_NNCF, ORT_U8S8),
        ("avx512_vnni", "avx_vnni"),
        _X86_BF16_NOTE,
        backends=_X86_BF16,
    ),
    _x86(
        "x86-amx",
        "x86-64 CPU with AMX",
        "x86-64 with AMX (Sapphire Rapids+)",
        (OV_NNCF, ORT_U8S8),
        ("amx_tile",),
        "OpenVINO runs bf16 on AMX unless told otherwise: fp32 plans set INFERENCE_PRECISION_HINT=f32",
        _X86_BF16_NOTE,
        backends=_X86_BF16,
    ),
    DeviceProfile(
        name="arm64",
        title="Generic 64-bit ARM CPU",
        family="arm64",
        arch="aarch64",
        cpu="ARMv8-A (any)",
        accelerator=None,
        memory_gb=(),
        backends=_ARM64,
        default_precision="fp32",
        int8=True,
        fp16=False,
        graph_nms=True,
        int8_constraints=(ORT_S8S8, TFLITE_INT8),
        notes=("no measurements: onnxruntime first as the most widely available wheel", _ARM_OV_NOTE),
    ),
)

for _profile in _CATALOG:
    PROFILES.register(_profile.name)(_profile)

# alias -> canonical name. "cpu" is special: the CPU of the machine running the command.
ALIASES: Dict[str, str] = {alias: p.name for p in _CATALOG for alias in p.aliases}
CPU_ALIAS = "cpu"


def profiles() -> List[DeviceProfile]:
    """Every registered profile, in catalogue order (Jetsons, Raspberry Pis, CPUs)."""
    order = {p.name: i for i, p in enumerate(_CATALOG)}
    return sorted((PROFILES.get(n) for n in PROFILES.names()), key=lambda p: order.get(p.name, len(order)))


def known_names() -> List[str]:
    return [*PROFILES.names(), *sorted(ALIASES), CPU_ALIAS]


def closest_names(name: str, n: int = 3) -> List[str]:
    """Known names and aliases closest to ``name`` (for "did you mean" messages)."""
    candidates = known_names()
    close = difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)
    prefix = [c for c in candidates if c.startswith(name) and c not in close] if name else []
    return (close + prefix)[:n]


def resolve_target(name: str, host: Optional[HostInfo] = None) -> Tuple[DeviceProfile, Optional[str]]:
    """``(profile, alias used or None)`` for a canonical name or alias; refuses unknown names."""
    key = name.strip().lower()
    if key in PROFILES:
        return PROFILES.get(key), None
    if key in ALIASES:
        return PROFILES.get(ALIASES[key]), key
    if key == CPU_ALIAS:
        if host is None:
            from edgekit.devices.host import detect_host

            host = detect_host(probe_modules=False)
        canonical = host.cpu_profile()
        if canonical is None:
            raise UnsupportedTargetError(
                f"target 'cpu' means this machine's CPU ({host.describe_cpu()}), which matches no "
                "profile; name a target explicitly (see 'edgekit devices')"
            )
        return PROFILES.get(canonical), CPU_ALIAS
    close = closest_names(key)
    hint = f"closest: {', '.join(close)}" if close else f"known: {', '.join(known_names())}"
    raise UnsupportedTargetError(f"unknown target '{name}'; {hint} (see 'edgekit devices')")
