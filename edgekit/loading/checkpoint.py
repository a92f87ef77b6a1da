"""Read a checkpoint file without running any code from it.

Formats: torch zip checkpoints (``torch.save`` since 1.6: Ultralytics ``.pt``, WongKinYiu
YOLOv9 ``.pt``, DAMO-YOLO ``.pth``), the legacy torch format (``torch.save(...,
_use_new_zipfile_serialization=False)``), plain pickles and ``.safetensors`` state dicts.
Pickles are read by :mod:`edgekit.loading.safe_pickle`: foreign objects become inert
:class:`Record` s (see :mod:`edgekit.loading.records`), tensors are rebuilt from the raw bytes,
and a payload that tries to run something is refused with ``UnsafeCheckpointError``.
TorchScript archives and the pre-1.6 tar format are refused with a one-line error.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import struct
import sys
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Dict, List, Tuple, Union

from edgekit._optional import require
from edgekit.errors import InputFileError, UnsafeCheckpointError
from edgekit.loading.records import (
    MISSING,
    Record,
    describe,
    is_tensor_dict,
    iter_records,
    record_state_dict,
    tensor_dict_fp32,
)
from edgekit.loading.safe_pickle import (
    Corrupt,
    LoadedStorage,
    SafeUnpickler,
    StorageType,
    Unsupported,
    rebuild_tensor,
    unpickle,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "MISSING",
    "RawCheckpoint",
    "Record",
    "iter_records",
    "read_checkpoint",
    "record_state_dict",
]

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
MODEL_KEYS = ("ema", "model", "state_dict", "model_state_dict", "net", "module")


@dataclass
class RawCheckpoint:
    """A checkpoint as read from disk: the top-level object with Records for foreign objects."""

    path: Path
    sha256: str
    obj: Any
    format: str = "torch-zip"  # "torch-zip", "torch-legacy", "pickle", "safetensors"
    extra: Dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        """A top-level entry of a dict checkpoint (``train_args``, ``epoch``...), else ``default``."""
        return self.obj.get(key, default) if isinstance(self.obj, dict) else default

    def keys(self) -> List[str]:
        return [str(k) for k in self.obj] if isinstance(self.obj, dict) else []

    def pick_model(self) -> Any:
        """The model: ``ema`` if present and not None, else ``model`` (or ``state_dict``...).

        Returns a module :class:`Record` or a dict of tensors. A checkpoint that is itself a
        module record or a state dict is returned as is.
        """
        obj = self.obj
        if isinstance(obj, Record) and obj.is_module:
            return obj
        if isinstance(obj, dict):
            for key in MODEL_KEYS:
                value = obj.get(key)
                if value is None:
                    continue
                if isinstance(value, Record) and not value.is_module and value.has("ema"):
                    value = value.attr("ema")  # a pickled ModelEMA wrapper
                if (isinstance(value, Record) and value.is_module) or is_tensor_dict(value):
                    return value
            if is_tensor_dict(obj):
                return obj
        raise InputFileError(self.path, f"checkpoint has no model (found {describe(obj)})")

    def model_record(self) -> Record | None:
        """The picked model if it is a pickled module, else None (a bare state dict)."""
        picked = self.pick_model()
        return picked if isinstance(picked, Record) else None

    def state_dict(self) -> OrderedDict[str, torch.Tensor]:
        """The picked model's flattened state dict, floating tensors in FP32.

        A ``module.`` prefix (DataParallel) common to every key is removed.
        """
        picked = self.pick_model()
        sd = record_state_dict(picked) if isinstance(picked, Record) else tensor_dict_fp32(picked)
        if sd and all(k.startswith("module.") for k in sd):
            sd = OrderedDict((k[len("module.") :], v) for k, v in sd.items())
        return sd


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sniff(head: bytes) -> str:
    """What a header that is not a checkpoint looks like, for the error message."""
    kinds = [
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"\x89PNG", "a PNG image"),
        (b"GIF8", "a GIF image"),
        (b"%PDF", "a PDF document"),
        (b"\x7fELF", "an executable"),
        (b"\x1f\x8b", "a gzip archive"),
        (b"ONNX", "an ONNX model"),
    ]
    for magic, kind in kinds:
        if head.startswith(magic):
            return kind
    if head[257:262] == b"ustar":
        return "a tar archive; the pre-1.6 torch tar format is not supported, re-save it with torch>=1.6"
    if head[:8].find(b"TFL3") >= 0:
        return "a TFLite model"
    sample = head[:64]
    text = sample.decode("utf-8", "ignore")
    if (
        text.strip()
        and len(text.encode()) >= len(sample) - 3
        and all(c.isprintable() or c in "\r\n\t" for c in text)
    ):
        return "a text file"
    return f"unrecognised data (starts with {head[:8].hex()})"


def _storage_loader(read: Callable[[str], bytes], byteorder: str) -> Callable[[Any], LoadedStorage]:
    """``persistent_load`` of the zip format: ``('storage', type, key, location, numel)``."""
    import torch

    cache: Dict[str, LoadedStorage] = {}

    def load(pid: Any) -> LoadedStorage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise Corrupt(f"unknown persistent id {str(pid)[:60]}")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, StorageType) or type(numel) is not int or numel < 0:
            raise Corrupt("bad storage record")
        key = str(key)
        if key not in cache:
            dtype = storage_type.dtype
            nbytes = numel * torch.empty((), dtype=dtype).element_size()
            raw = read(key)
            if len(raw) < nbytes:
                raise Corrupt(f"tensor data {key} is truncated ({len(raw)} of {nbytes} bytes)")
            untyped = _bytes_to_storage(raw[:nbytes])
            if byteorder != sys.byteorder and dtype.itemsize > 1:
                untyped.byteswap(dtype)
            cache[key] = LoadedStorage(untyped, dtype)
        return LoadedStorage(cache[key].untyped, storage_type.dtype)

    return load


def _bytes_to_storage(raw: bytes) -> Any:
    import torch

    if not raw:
        return torch.UntypedStorage(0)
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).untyped_storage()


def _nested(path: Path) -> Callable[[bytes], Any]:
    """Reader of a checkpoint embedded as bytes (how ``pickle.dumps`` stores a tensor's storage)."""

    def read(data: bytes) -> Any:
        if data.startswith(b"PK"):
            return _read_zip(path, io.BytesIO(data))[0]
        if data[:1] == b"\x80":
            return _read_legacy(path, data)[0]
        raise Corrupt("embedded data is not a torch archive")

    return read


def _read_zip(path: Path, source: Union[Path, BinaryIO, None] = None) -> Tuple[Any, str]:
    try:
        zf = zipfile.ZipFile(path if source is None else source)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise InputFileError(path, f"truncated or corrupt zip archive ({exc})") from None
    with zf:
        for info in zf.infolist():  # torch stores entries uncompressed; refuse decompression bombs
            if info.compress_type != zipfile.ZIP_STORED and info.file_size > 100 * max(info.compress_size, 1):
                raise InputFileError(path, f"corrupt checkpoint (implausible compression of {info.filename})")
        names = zf.namelist()
        if any(n.endswith("/constants.pkl") or "/code/__torch__/" in n for n in names):
            what = "a TorchScript archive (torch.jit.save), not a checkpoint saved by torch.save"
            raise InputFileError(path, what)
        pkls = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pkls:
            raise InputFileError(path, "a zip archive without data.pkl: not a PyTorch checkpoint")
        prefix = pkls[0][: -len("data.pkl")]
        byteorder = "little"
        if f"{prefix}byteorder" in names:
            byteorder = zf.read(f"{prefix}byteorder").decode("ascii", "replace").strip()
            if byteorder not in ("little", "big"):
                raise InputFileError(path, f"corrupt checkpoint (byte order {byteorder!r})")

        def read(key: str) -> bytes:
            try:
                return zf.read(f"{prefix}data/{key}")
            except KeyError:
                raise Corrupt(f"tensor data {key} is missing (truncated file?)") from None

        obj = unpickle(zf.read(pkls[0]), str(path), _storage_loader(read, byteorder), _nested(path))
    return obj, "torch-zip"


def _read_legacy(path: Path, data: bytes) -> Tuple[Any, str]:
    """The torch<1.6 stream: magic, protocol, sys info, the pickle, storage keys, raw storages."""
    import torch

    stream = io.BytesIO(data)

    def next_pickle(persistent: Any = None) -> Any:
        return SafeUnpickler(stream, str(path), persistent, _nested(path)).load()

    magic = next_pickle()
    if magic != LEGACY_MAGIC:
        return magic, "pickle"  # a plain pickle: the first object is the whole content
    next_pickle()  # protocol version
    info = next_pickle()
    little = not isinstance(info, dict) or info.get("little_endian", True)
    storages: Dict[str, LoadedStorage] = {}

    def persistent(pid: Any) -> Any:
        if isinstance(pid, tuple) and pid and pid[0] == "module":
            return pid[1]
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise Corrupt(f"unknown persistent id {str(pid)[:60]}")
        _, storage_type, root_key, _location, numel, view = pid
        if not isinstance(storage_type, StorageType) or type(numel) is not int or numel < 0:
            raise Corrupt("bad storage record")
        dtype = storage_type.dtype
        size = torch.empty((), dtype=dtype).element_size()
        if numel * size > len(data):
            raise Corrupt(f"storage {root_key} is larger than the file (truncated?)")
        root = storages.setdefault(str(root_key), LoadedStorage(torch.UntypedStorage(numel * size), dtype))
        if view is not None:
            _view_key, offset, view_numel = view
            return LoadedStorage(root.untyped[offset * size : (offset + view_numel) * size], dtype)
        return root

    obj = next_pickle(persistent)
    keys = next_pickle()
    if not isinstance(keys, list):
        raise Corrupt("bad storage key list")
    for key in keys:
        storage = storages.get(str(key))
        if storage is None:
            raise Corrupt(f"unknown storage {key}")
        header = stream.read(8)
        if len(header) < 8:
            raise Corrupt("tensor data is truncated")
        (numel,) = struct.unpack("<q", header)
        nbytes = numel * storage.dtype.itemsize
        raw = stream.read(nbytes)
        if len(raw) < nbytes or nbytes != storage.untyped.nbytes():
            raise Corrupt("tensor data is truncated")
        src = _bytes_to_storage(raw)
        if not little and storage.dtype.itemsize > 1:
            src.byteswap(storage.dtype)
        storage.untyped.copy_(src)
    return obj, "torch-legacy"


_SAFETENSORS_DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
    "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool",
}  # fmt: skip


def _read_safetensors(path: Path, data: bytes) -> Tuple[Any, str]:
    import torch

    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    body = data[8 + n :]
    out: OrderedDict[str, Any] = OrderedDict()
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        dtype = getattr(torch, _SAFETENSORS_DTYPES[spec["dtype"]])
        begin, end = spec["data_offsets"]
        if not 0 <= begin <= end <= len(body):
            raise Corrupt(f"tensor {name} is truncated")
        storage = LoadedStorage(_bytes_to_storage(body[begin:end]), dtype)
        shape = tuple(int(v) for v in spec["shape"])
        stride = tuple(int(torch.tensor(shape[i + 1 :]).prod()) for i in range(len(shape)))
        out[name] = (
            rebuild_tensor(storage, 0, shape, stride) if all(shape) else torch.zeros(shape, dtype=dtype)
        )
    return out, "safetensors"


def _looks_like_safetensors(head: bytes) -> bool:
    if len(head) < 10:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 0 < n < (1 << 28) and head[8:9] == b"{"


def _check_path(path: Path) -> None:
    if not path.exists():
        raise InputFileError(path, "no such file")
    if path.is_dir():
        raise InputFileError(path, "is a directory, not a checkpoint file")
    if path.stat().st_size == 0:
        raise InputFileError(path, "empty file, not a checkpoint")


_NEEDS_TORCH = (b"PK", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def read_checkpoint(path: Union[str, Path]) -> RawCheckpoint:
    """Read ``path`` safely. Raises InputFileError (one line, naming the file) or UnsafeCheckpointError."""
    path = Path(path)
    _check_path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        raise InputFileError(path, f"cannot read ({exc.strerror or exc})") from None
    if head[:2] in (b"PK", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05") or _looks_like_safetensors(
        head
    ):
        require("torch", "convert", reason="reading checkpoints")
    try:
        if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
            obj, fmt = _read_zip(path)
        elif head[:1] == b"\x80" and 2 <= head[1] <= 5:
            obj, fmt = _read_legacy(path, path.read_bytes())
        elif _looks_like_safetensors(head):
            obj, fmt = _read_safetensors(path, path.read_bytes())
        else:
            raise InputFileError(path, f"not a PyTorch checkpoint ({_sniff(head)})")
    except (InputFileError, UnsafeCheckpointError):
        raise
    except Unsupported as exc:
        raise InputFileError(path, f"unsupported checkpoint: {exc}") from None
    except (MemoryError, RecursionError, OverflowError) as exc:
        raise InputFileError(path, f"corrupt checkpoint (implausible sizes: {type(exc).__name__})") from None
    except (Corrupt, pickle.UnpicklingError, EOFError, struct.error) as exc:
        raise InputFileError(path, f"truncated or corrupt checkpoint ({_one_line(exc)})") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RuntimeError, OSError) as exc:
        what = f"{type(exc).__name__}: {_one_line(exc)}"
        raise InputFileError(path, f"truncated or corrupt checkpoint ({what})") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise InputFileError(path, f"truncated or corrupt zip archive ({_one_line(exc)})") from None
    return RawCheckpoint(path=path, sha256=_sha256(path), obj=obj, format=fmt)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
