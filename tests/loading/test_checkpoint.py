"""The safe checkpoint reader: foreign classes, tensors, formats, bad files."""

from __future__ import annotations

import io
import json
import pickle
import random
import struct
import sys
from collections import OrderedDict
from pathlib import Path, PurePosixPath
from typing import Any, Dict

import numpy as np
import pytest

from edgekit.errors import InputFileError, UnsafeCheckpointError
from edgekit.loading.checkpoint import Record, iter_records, read_checkpoint, record_state_dict

from .conftest import make_model, save_foreign, write_torch_zip

torch = pytest.importorskip("torch")


# ------------------------------------------------------------------ foreign classes
def test_foreign_classes_become_records(ultra_ckpt: Dict[str, Any]) -> None:
    ckpt = read_checkpoint(ultra_ckpt["path"])
    assert "ultralytics" not in sys.modules  # nothing was imported
    rec = ckpt.obj["model"]
    assert isinstance(rec, Record) and rec.cls == "ultralytics.nn.tasks.DetectionModel"
    assert rec.is_module and rec.module_path_name() == "DetectionModel"
    assert rec.attr("names") == {0: "class0", 1: "class1", 2: "class2"}
    assert rec.attr("nc") == 3 and rec.attr("yaml")["nc"] == 3
    assert torch.equal(rec.attr("stride"), torch.tensor([8.0, 16.0, 32.0]))
    assert rec.attr("missing", None) is None
    with pytest.raises(AttributeError):
        rec.attr("missing")

    named = dict(iter_records(rec))
    assert named["model.0"].module_path_name() == "Conv"
    assert named["model.0"].attr("i") == 0 and named["model.0"].attr("f") == -1
    assert named["model.0"].attr("type") == "ultralytics.nn.modules.conv.Conv"
    assert named["model.1"].cls == "ultralytics.nn.modules.conv.RepConvN"
    assert named["model.1"].attr("bn") is None and "bn" not in named["model.1"].children()
    assert list(named["model.1"].children()) == ["conv1", "conv2"]
    assert named["model.0.bn"].cls == "torch.nn.modules.batchnorm.BatchNorm2d"
    assert named["model.0.bn"].attr("eps") == pytest.approx(1e-3)
    assert named["model.0.conv"].attr("kernel_size") == (3, 3)
    assert list(named) == [n for n, _ in ultra_ckpt["ema"].named_modules()]


def test_train_time_leftovers_are_records(ultra_ckpt: Dict[str, Any]) -> None:
    """A lower-case class (``v8DetectionLoss``) instantiated by NEWOBJ is a class, not a call."""
    ema = read_checkpoint(ultra_ckpt["path"]).obj["ema"]
    crit = ema.attr("criterion")
    assert isinstance(crit, Record) and crit.cls == "ultralytics.utils.loss.v8DetectionLoss"
    assert crit.attr("hyp") == {"box": 7.5} and crit.attr("device") == torch.device("cpu")
    assert crit.attr("bce").attr("reduction") == "none"
    assert crit.attr("meta").cls == "ultralytics.utils.loss.metadata_holder"
    assert crit.attr("meta").attr("source") == "train"
    assert ema.attr("args").attr("imgsz") == 640


def test_record_state_dict_matches_module(ultra_ckpt: Dict[str, Any]) -> None:
    ckpt = read_checkpoint(ultra_ckpt["path"])
    ref = ultra_ckpt["model"].half().float().state_dict()
    sd = record_state_dict(ckpt.obj["model"])
    assert list(sd) == list(ref)  # params and persistent buffers, torch order, no 'scratch'
    for key, value in ref.items():
        assert sd[key].dtype == value.dtype, key
        assert torch.equal(sd[key], value), key
    assert sd["model.0.bn.num_batches_tracked"].dtype == torch.int64
    assert int(sd["model.0.bn.num_batches_tracked"]) == 7
    assert "model.2.conv.weight" in sd  # requires_grad=False parameter (DFL)


def test_ema_preferred(ultra_ckpt: Dict[str, Any]) -> None:
    ckpt = read_checkpoint(ultra_ckpt["path"])
    assert ckpt.pick_model() is ckpt.obj["ema"]
    sd = ckpt.state_dict()
    ema_ref = ultra_ckpt["ema"].half().float().state_dict()
    model_ref = ultra_ckpt["model"].half().float().state_dict()
    key = "model.0.conv.weight"
    assert torch.equal(sd[key], ema_ref[key]) and not torch.equal(sd[key], model_ref[key])
    assert all(v.dtype != torch.float16 for v in sd.values())


def test_model_used_when_ema_is_none(tmp_path: Path) -> None:
    model = make_model(3)
    path = save_foreign(tmp_path / "m.pt", {"model": model.half(), "ema": None, "optimizer": None})
    ckpt = read_checkpoint(path)
    assert ckpt.pick_model() is ckpt.obj["model"]
    assert torch.equal(ckpt.state_dict()["model.0.bn.running_var"], model.float().model[0].bn.running_var)


def test_plain_values_roundtrip(ultra_ckpt: Dict[str, Any]) -> None:
    ckpt = read_checkpoint(ultra_ckpt["path"])
    args = ckpt.get("train_args")
    assert args["imgsz"] == 640 and float(args["lr0"]) == 0.01
    assert isinstance(args["hist"], np.ndarray) and args["hist"].tolist() == [0, 1, 2]
    assert args["hist"].dtype == np.int32
    ns = ckpt.get("args_ns")
    assert isinstance(ns, Record) and ns.attr("task") == "detect"
    assert ckpt.get("save_dir") == PurePosixPath("/runs/detect/train")
    assert ckpt.get("date") == "2025-01-01T00:00:00" and ckpt.format == "torch-zip"
    assert len(ckpt.sha256) == 64


def test_views_strides_and_dtypes(tmp_path: Path) -> None:
    base = torch.randn(4, 6)
    obj = {
        "base": base,
        "row": base[1],
        "t": base.t(),
        "slice": base[:, 2:5],
        "bf16": torch.randn(3).to(torch.bfloat16),
        "i8": torch.tensor([-3, 4], dtype=torch.int8),
        "empty": torch.zeros(0, 3),
        "scalar": torch.tensor(2.5, dtype=torch.float16),
    }
    for zip_format in (True, False):
        path = tmp_path / f"v{zip_format}.pt"
        torch.save(obj, path, _use_new_zipfile_serialization=zip_format)
        got = read_checkpoint(path).obj
        for key, value in obj.items():
            assert got[key].dtype == value.dtype and torch.equal(got[key], value), key


def test_bare_state_dict(tmp_path: Path) -> None:
    model = make_model(4)
    sd = OrderedDict((f"module.{k}", v.half()) for k, v in model.state_dict().items())
    path = tmp_path / "sd.pth"
    torch.save({"epoch": 3, "model": sd, "optimizer": {"state": {}, "param_groups": []}}, path)
    got = read_checkpoint(path).state_dict()
    ref = model.half().float().state_dict()
    assert list(got) == list(ref)  # the DataParallel prefix is gone
    assert all(torch.equal(got[k], ref[k]) for k in ref)
    torch.save(sd, path)
    assert list(read_checkpoint(path).state_dict()) == list(ref)


@pytest.mark.filterwarnings("ignore:Couldn't retrieve source code")
def test_legacy_format_with_foreign_classes(tmp_path: Path) -> None:
    model = make_model(5)
    path = save_foreign(tmp_path / "legacy.pt", {"model": model.half()}, _use_new_zipfile_serialization=False)
    ckpt = read_checkpoint(path)
    assert ckpt.format == "torch-legacy"
    ref = model.float().state_dict()
    assert all(torch.equal(ckpt.state_dict()[k], ref[k]) for k in ref)


def test_safetensors(tmp_path: Path) -> None:
    tensors = {"a.weight": torch.randn(2, 3), "a.bias": torch.randn(2).half()}
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        raw = t.numpy().tobytes()
        dtype = {torch.float32: "F32", torch.float16: "F16"}[t.dtype]
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", len(head)) + head + b"".join(blobs))
    sd = read_checkpoint(path).state_dict()
    assert torch.equal(sd["a.weight"], tensors["a.weight"])
    assert sd["a.bias"].dtype == torch.float32 and torch.equal(sd["a.bias"], tensors["a.bias"].float())


# ------------------------------------------------------------------ bad files
def _bad_files(tmp_path: Path) -> Dict[str, Path]:
    good = tmp_path / "good.pt"
    torch.save({"model": make_model(6).state_dict()}, good)
    data = good.read_bytes()
    files = {
        "truncated zip": data[: len(data) // 2],
        "truncated pickle": pickle.dumps({"a": list(range(100))}, protocol=2)[:40],
        "random bytes": random.Random(0).randbytes(4096),
        "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(200),
        "text": b"model: yolo11n\nepochs: 100\n",
        "empty": b"",
    }
    out = {}
    for name, content in files.items():
        out[name] = tmp_path / (name.replace(" ", "_") + ".pt")
        out[name].write_bytes(content)
    out["directory"] = tmp_path / "adir.pt"
    out["directory"].mkdir()
    out["missing"] = tmp_path / "nope.pt"
    return out


BAD = ["truncated zip", "truncated pickle", "random bytes", "jpeg", "text", "empty", "directory", "missing"]


@pytest.mark.parametrize("kind", BAD)
def test_bad_file_one_line_error(tmp_path: Path, kind: str) -> None:
    path = _bad_files(tmp_path)[kind]
    with pytest.raises(InputFileError) as err:
        read_checkpoint(path)
    assert not isinstance(err.value, UnsafeCheckpointError)
    msg = str(err.value)
    assert msg.startswith(str(path)) and "\n" not in msg, msg
    expected = {
        "jpeg": "JPEG",
        "text": "text file",
        "empty": "empty",
        "directory": "directory",
        "missing": "no such",
        "random bytes": "not a PyTorch checkpoint",
    }
    assert expected.get(kind, "corrupt") in msg


def test_truncated_tensor_data(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    torch.save({"w": torch.randn(64)}, good)
    import zipfile

    with zipfile.ZipFile(good) as zf:
        records = {n: zf.read(n) for n in zf.namelist()}
    pkl = next(v for n, v in records.items() if n.endswith("data.pkl"))
    data = next(v for n, v in records.items() if n.endswith("data/0"))
    path = write_torch_zip(tmp_path / "short.pt", pkl, {"data/0": data[:100]})
    with pytest.raises(InputFileError, match="truncated"):
        read_checkpoint(path)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_archive_refused(tmp_path: Path) -> None:
    path = tmp_path / "ts.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    with pytest.raises(InputFileError, match="TorchScript"):
        read_checkpoint(path)


def test_checkpoint_without_model(tmp_path: Path) -> None:
    path = tmp_path / "nomodel.pt"
    torch.save({"epoch": 3, "optimizer": None, "ema": None}, path)
    ckpt = read_checkpoint(path)
    with pytest.raises(InputFileError, match="has no model") as err:
        ckpt.pick_model()
    assert str(path) in str(err.value)


def test_zip_without_data_pkl(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(InputFileError, match="not a PyTorch checkpoint"):
        read_checkpoint(path)


def test_unpickler_does_not_pollute_pickle(tmp_path: Path) -> None:
    """Reading a checkpoint leaves the standard pickle machinery untouched."""
    before = dict(pickle._Unpickler.dispatch)
    read_checkpoint(save_foreign(tmp_path / "x.pt", {"model": make_model(7)}))
    assert pickle._Unpickler.dispatch == before
    assert pickle.loads(pickle.dumps(io.BytesIO)) is io.BytesIO


# ------------------------------------------------------------------ odd but legitimate content
def test_foreign_objects_as_dict_keys_and_set_members(tmp_path: Path) -> None:
    from .conftest import FOREIGN, Conv, fake_modules

    a, b = Conv(3, 4), Conv(4, 4)
    with fake_modules(FOREIGN):
        data = pickle.dumps({"by_module": {a: 1, b: 2}, "set": {a, b}, "same": [a, a]}, protocol=4)
    path = tmp_path / "keys.pkl"
    path.write_bytes(data)
    obj = read_checkpoint(path).obj
    assert sorted(obj["by_module"].values()) == [1, 2]
    assert len(obj["set"]) == 2 and all(isinstance(r, Record) for r in obj["set"])
    assert obj["same"][0] is obj["same"][1]  # the memo keeps shared objects shared
    # plain pickle stores each storage as an embedded torch archive: read by the same reader
    sd = record_state_dict(obj["same"][0])
    assert list(sd) == list(a.state_dict())
    assert all(torch.equal(sd[k], v) for k, v in a.state_dict().items())


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_quantized_tensor_is_unsupported_not_unsafe(tmp_path: Path) -> None:
    path = tmp_path / "q.pt"
    q = torch.quantize_per_tensor(torch.randn(4), scale=0.1, zero_point=0, dtype=torch.qint8)
    torch.save({"model": {"w": q}}, path)
    with pytest.raises(InputFileError, match="unsupported checkpoint") as err:
        read_checkpoint(path)
    assert not isinstance(err.value, UnsafeCheckpointError)


def test_expanded_tensor_bomb_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.pt"
    torch.save({"w": torch.zeros(1).expand(1 << 30)}, path)  # stride 0: 4 bytes of storage
    with pytest.raises(InputFileError, match="implausible tensor size"):
        read_checkpoint(path)


def test_legacy_storage_larger_than_file(tmp_path: Path) -> None:
    path = tmp_path / "legacy.pt"
    torch.save({"w": torch.zeros(1000)}, path, _use_new_zipfile_serialization=False)
    path.write_bytes(path.read_bytes()[:-3000])
    with pytest.raises(InputFileError, match="truncated"):
        read_checkpoint(path)


def test_big_endian_checkpoint(tmp_path: Path) -> None:
    """A file written on a big-endian machine (byteorder record 'big') reads with the same values."""
    import zipfile

    values = {
        "w": torch.randn(3, 4),
        "h": torch.randn(5).half(),
        "n": torch.tensor([1, 300], dtype=torch.int64),
    }
    good = tmp_path / "little.pt"
    torch.save(values, good)
    with zipfile.ZipFile(good) as zf:
        records = {n.split("/", 1)[1]: zf.read(n) for n in zf.namelist()}
    keys = read_checkpoint(good).obj  # storage key order follows the dict order: 0, 1, 2
    for key, (name, tensor) in enumerate(keys.items()):
        raw = np.frombuffer(records[f"data/{key}"], dtype=tensor.numpy().dtype)
        records[f"data/{key}"] = raw.byteswap().tobytes()
        assert torch.equal(tensor, values[name])
    records["byteorder"] = b"big"
    path = write_torch_zip(tmp_path / "big.pt", records.pop("data.pkl"), records)
    got = read_checkpoint(path).obj
    for name, tensor in values.items():
        assert torch.equal(got[name], tensor), name


def test_tar_format_named(tmp_path: Path) -> None:
    import tarfile

    path = tmp_path / "old.pt"
    with tarfile.open(path, "w") as tar:
        member = tmp_path / "pickle"
        member.write_bytes(b"x")
        tar.add(member, arcname="pickle")
    with pytest.raises(InputFileError, match=r"pre-1\.6 torch tar format"):
        read_checkpoint(path)


def test_zip_bomb_refused(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "bomb.pt"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02N." + bytes(50_000_000))
    with pytest.raises(InputFileError, match="implausible compression"):
        read_checkpoint(path)
