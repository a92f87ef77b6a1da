"""The generic passes: deploy forms, Conv+BN folding, dropping train-only modules."""

from __future__ import annotations

from collections import Counter
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from torch import nn

from edgekit.reparam.fusion import FusedConv, fold_conv_bn
from edgekit.reparam.protocol import PASSES, ConvBnFusible, Pass, PassResult, Reparameterizable


def _is_bn(module: Optional[nn.Module]) -> bool:
    return isinstance(module, nn.modules.batchnorm._BatchNorm)


def _post_order(root: nn.Module) -> List[Tuple[nn.Module, str, nn.Module]]:
    """``(parent, name, child)`` for every sub-module slot, children before their parents.

    A module registered in several places appears once per place; its subtree is listed once.
    """
    out: List[Tuple[nn.Module, str, nn.Module]] = []
    seen = set()

    def visit(parent: nn.Module) -> None:
        for name, child in list(parent._modules.items()):
            if child is None:
                continue
            if id(child) not in seen:
                seen.add(id(child))
                visit(child)
            out.append((parent, name, child))

    visit(root)
    return out


def set_submodule(root: nn.Module, path: str, module: Optional[nn.Module]) -> None:
    """Replace the sub-module at dotted ``path`` (``None`` unregisters it, keeping the attribute)."""
    parent_path, _, leaf = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    if leaf not in parent._modules:
        raise ValueError(f"'{path}' is not a sub-module of {type(root).__name__}")
    setattr(parent, leaf, module)


def _counts(counter: Counter) -> List[str]:
    return [f"{cls} x{n}" for cls, n in sorted(counter.items())]


def as_conv_bn(module: nn.Module) -> Tuple[nn.Conv2d, Optional[nn.Module]]:
    """The ``(conv, bn)`` of a linear branch module, folded or not (for ``deploy_form`` code).

    Accepts a ``Conv2d``, a :class:`FusedConv` without activation, a :class:`ConvBnFusible`
    with exactly one pair and no activation (``act`` missing or ``nn.Identity``), or an
    ``nn.Sequential(Conv2d[, BatchNorm2d])``. ``bn`` is ``None`` once folded.
    """
    if isinstance(module, nn.Conv2d):
        return module, None
    act = getattr(module, "act", None)
    if act is not None and not isinstance(act, nn.Identity):
        raise ValueError(f"{type(module).__name__} has an activation: it is not a linear branch")
    if isinstance(module, FusedConv):
        return module.conv, None
    if isinstance(module, ConvBnFusible):
        pairs = list(module.conv_bn_pairs())
        if len(pairs) != 1:
            raise ValueError(f"{type(module).__name__} declares {len(pairs)} conv/bn pairs, a branch has one")
        conv, bn = (module.get_submodule(p) for p in pairs[0])
        if isinstance(conv, nn.Conv2d):
            return conv, None if isinstance(bn, nn.Identity) else bn
    if isinstance(module, nn.Sequential):
        layers = [m for m in module if not isinstance(m, nn.Identity)]
        if (
            len(layers) in (1, 2)
            and isinstance(layers[0], nn.Conv2d)
            and (len(layers) == 1 or _is_bn(layers[1]))
        ):
            return layers[0], layers[1] if len(layers) == 2 else None
    raise TypeError(f"{type(module).__name__} is not a conv(+BN) branch")


@PASSES.register("deploy_form")
class DeployFormPass(Pass):
    """Replace every module that implements deploy_form() by its fused form (children first)."""

    name = "deploy_form"

    def applies(self, model: nn.Module) -> bool:
        return any(isinstance(m, Reparameterizable) for m in model.modules())

    def run(self, model: nn.Module) -> PassResult:
        counts: Counter = Counter()
        done: Dict[int, nn.Module] = {}  # shared modules stay shared
        for parent, name, child in _post_order(model):
            if isinstance(child, Reparameterizable):
                if id(child) not in done:
                    done[id(child)] = child.deploy_form()
                    counts[type(child).__name__] += 1
                setattr(parent, name, done[id(child)])
        result = PassResult()
        if isinstance(model, Reparameterizable):
            counts[type(model).__name__] += 1
            result.model = model.deploy_form()
        result.changed = sum(counts.values())
        result.details = _counts(counts)
        return result


def _fusible_pairs(model: nn.Module) -> Iterable[Tuple[str, nn.Module, str, str]]:
    """``(module name, module, conv path, bn path)`` of every declared or Sequential pair."""
    for name, m in list(model.named_modules()):
        if isinstance(m, ConvBnFusible):
            for conv_path, bn_path in m.conv_bn_pairs():
                yield name, m, conv_path, bn_path
        elif isinstance(m, nn.Sequential):
            keys = list(m._modules)
            for a, b in zip(keys, keys[1:]):
                if isinstance(m._modules[a], nn.Conv2d) and _is_bn(m._modules[b]):
                    yield name, m, a, b


@PASSES.register("conv_bn")
class ConvBnFoldPass(Pass):
    """Fold each BatchNorm into the conv before it (declared conv_bn_pairs(), Sequential(Conv2d, BN))."""

    name = "conv_bn"

    def applies(self, model: nn.Module) -> bool:
        return any(_is_bn(m.get_submodule(bn)) for _, m, _, bn in _fusible_pairs(model))

    def run(self, model: nn.Module) -> PassResult:
        counts: Counter = Counter()
        for name, m, conv_path, bn_path in list(_fusible_pairs(model)):
            conv, bn = m.get_submodule(conv_path), m.get_submodule(bn_path)
            if isinstance(bn, nn.Identity):
                continue  # folded already
            if not isinstance(conv, nn.Conv2d) or not _is_bn(bn):
                raise TypeError(
                    f"{name or type(m).__name__}: ({conv_path}, {bn_path}) are {type(conv).__name__}, "
                    f"{type(bn).__name__}, not Conv2d, BatchNorm"
                )
            set_submodule(m, conv_path, fold_conv_bn(conv, bn))
            set_submodule(m, bn_path, nn.Identity())
            counts[type(m).__name__] += 1
        details = _counts(counts)
        left = batchnorm_paths(model)
        if left:
            shown = ", ".join(left[:3]) + (", ..." if len(left) > 3 else "")
            details.append(f"{len(left)} BatchNorm not declared foldable, kept: {shown}")
        return PassResult(changed=sum(counts.values()), details=details)


def _path_key(path: str) -> Tuple[Tuple[int, object], ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in path.split("."))


def _numel(module: Optional[nn.Module]) -> int:
    if module is None:
        return 0
    return sum(t.numel() for t in module.parameters()) + sum(t.numel() for t in module.buffers())


@PASSES.register("drop_modules")
class DropModulesPass(Pass):
    """Remove train-only sub-modules chosen by the family (distillation, one-to-many head, ...).

    ``select(model)`` returns dotted paths. An entry of a ``ModuleList``/``Sequential`` is
    deleted (later entries shift down); any other attribute is set to ``None`` so that
    ``if self.x is not None`` style code keeps working.
    """

    def __init__(self, select: Callable[[nn.Module], Iterable[str]], name: str = "drop_modules") -> None:
        self.select = select
        self.name = name

    def applies(self, model: nn.Module) -> bool:
        return any(True for _ in self.select(model))

    def run(self, model: nn.Module) -> PassResult:
        paths = sorted(set(self.select(model)), key=_path_key, reverse=True)  # last list entries first
        details = []
        for path in paths:
            parent_path, _, leaf = path.rpartition(".")
            parent = model.get_submodule(parent_path) if parent_path else model
            if leaf not in parent._modules:
                raise ValueError(f"pass '{self.name}': '{path}' is not a sub-module")
            size = _numel(parent._modules[leaf])
            if isinstance(parent, (nn.ModuleList, nn.Sequential)):
                del parent[int(leaf)]
            else:
                setattr(parent, leaf, None)
            details.append(f"dropped {path} ({size:,} parameters and buffer values)")
        return PassResult(changed=len(paths), details=sorted(details))


def batchnorm_paths(model: nn.Module) -> List[str]:
    """Names of the BatchNorm modules still in ``model`` (none should remain after folding)."""
    return [n for n, m in model.named_modules() if _is_bn(m)]
