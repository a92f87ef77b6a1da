"""The safe unpickler refuses payloads that would run code, and runs none of them."""

from __future__ import annotations

import functools
import os
import pickle
import struct
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict

import pytest

from edgekit.errors import UnsafeCheckpointError
from edgekit.loading.checkpoint import read_checkpoint

from .conftest import write_torch_zip

torch = pytest.importorskip("torch")


# ------------------------------------------------------------------ hostile payloads
def _payloads(marker: Path) -> Dict[str, Callable[[], Any]]:
    cmd = f"touch {marker}"

    class OsSystem:
        def __reduce__(self):
            return (os.system, (cmd,))

    class Eval:
        def __reduce__(self):
            return (eval, (f"__import__('os').system({cmd!r})",))

    class Exec:
        def __reduce__(self):
            return (exec, (f"import os; os.system({cmd!r})",))

    class Popen:
        def __reduce__(self):
            return (subprocess.Popen, (["touch", str(marker)],))

    class Partial:
        def __reduce__(self):
            return (functools.partial(os.system, cmd), ())

    return {"os.system": OsSystem, "eval": Eval, "exec": Exec, "Popen": Popen, "partial": Partial}


def _getattr_chain(marker: Path) -> bytes:
    """``getattr(__import__('os'), 'system')('touch ...')`` as raw protocol-2 opcodes."""

    def s(text: str) -> bytes:
        data = text.encode()
        return b"X" + struct.pack("<I", len(data)) + data

    return (
        b"\x80\x02cbuiltins\ngetattr\n(cbuiltins\n__import__\n(" + s("os") + b"tR" + s("system") + b"tR("
        + s(f"touch {marker}") + b"tR."
    )  # fmt: skip


def _foreign_function_call(marker: Path, module: str = "evilpkg.helpers", name: str = "run") -> bytes:
    """REDUCE of a function-like name from a module on no list: refused by the call rule."""
    cmd = f"touch {marker}".encode()
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"(X" + struct.pack("<I", len(cmd)) + cmd + b"tR."


PAYLOADS = ["os.system", "eval", "exec", "Popen", "partial"]


def test_payload_is_live(tmp_path: Path) -> None:
    """Control: the os.system payload really runs under the standard unpickler."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(_payloads(marker)["os.system"]()))
    assert marker.exists()


@pytest.mark.parametrize("kind", PAYLOADS)
@pytest.mark.parametrize("container", ["torch-zip", "pickle", "torch-legacy"])
def test_hostile_payload_refused(tmp_path: Path, kind: str, container: str) -> None:
    marker = tmp_path / "pwned"
    payload = _payloads(marker)[kind]()
    path = tmp_path / f"bad-{kind}.pt"
    obj = {"epoch": 1, "model": payload}
    if container == "pickle":
        path.write_bytes(pickle.dumps(obj, protocol=4))
    else:
        torch.save(obj, path, _use_new_zipfile_serialization=container == "torch-zip")
    with pytest.raises(UnsafeCheckpointError) as err:
        read_checkpoint(path)
    msg = str(err.value)
    assert str(path) in msg and "refuses to execute" in msg and "nothing was executed" in msg
    assert "\n" not in msg
    assert not marker.exists()


def test_refusal_names_the_callable(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "bad.pt"
    torch.save({"model": _payloads(marker)["os.system"]()}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"(posix|os|nt)\.system"):
        read_checkpoint(path)


@pytest.mark.parametrize(
    "make",
    [
        _getattr_chain,
        _foreign_function_call,
        functools.partial(_foreign_function_call, module="torch", name="load"),
        functools.partial(_foreign_function_call, module="numpy", name="load"),
        functools.partial(_foreign_function_call, module="nt", name="system"),
        functools.partial(_foreign_function_call, module="__builtin__", name="apply"),
    ],
)
def test_hand_made_payloads_refused(tmp_path: Path, make: Callable[[Path], bytes]) -> None:
    marker = tmp_path / "pwned"
    for path in (write_torch_zip(tmp_path / "bad.pt", make(marker)), tmp_path / "bad.pkl"):
        if path.suffix == ".pkl":
            path.write_bytes(make(marker))
        with pytest.raises(UnsafeCheckpointError, match="nothing was executed") as err:
            read_checkpoint(path)
        assert str(path) in str(err.value)
    assert not marker.exists()


def test_extension_codes_refused(tmp_path: Path) -> None:
    path = tmp_path / "ext.pkl"
    path.write_bytes(b"\x80\x02\x82\x01.")  # EXT1 code 1
    with pytest.raises(UnsafeCheckpointError):
        read_checkpoint(path)
