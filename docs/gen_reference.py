"""MkDocs hook: the reference parts of the site, generated from the code at build time.

Pages carry markers that this hook replaces before Markdown is rendered, so the site cannot
drift from the code it documents:

- ``<!-- gen:manifest-schema -->``: every field of the manifest's dataclasses
  (``edgekit/bundle/manifest.py``): JSON key, type, default, the values ``from_dict`` accepts,
  and the comment written beside the field; the output roles; the conversion plan stored as
  ``target`` (``edgekit/devices/conversion_plan.py``).
- ``<!-- gen:jetpack-releases -->`` and ``<!-- gen:jetson-boards -->``: the JetPack lines and
  Jetson profiles of ``edgekit.devices``.
- ``<!-- gen:api -->``: one mkdocstrings block per name of ``edgekit.__all__``.

On ``troubleshooting.md``, every ``### ErrorName`` heading gets the class's docstring and exit
code, and the build fails when a user-facing error class has no heading there.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import json
import sys
import textwrap
import tokenize
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the checkout, also when edgekit is not installed editable
    sys.path.insert(0, str(ROOT))

MARKERS = ("manifest-schema", "jetpack-releases", "jetson-boards", "api")
SCALARS = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "Any": "any"}


class DocsError(Exception):
    """A page and the code disagree (raised as mkdocs' PluginError when mkdocs is there)."""


def _fail(message: str) -> None:
    try:
        from mkdocs.exceptions import PluginError
    except ImportError:  # pragma: no cover - only without mkdocs
        raise DocsError(message) from None
    raise PluginError(message)


# ---- field comments and accepted values, read from the source ------------------------------


def field_comments(cls: type) -> Dict[str, str]:
    """``field -> comment``: the comment on the field's line, else the comment lines above it."""
    source = textwrap.dedent(inspect.getsource(cls))
    comments: Dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    lines = source.splitlines()
    out: Dict[str, str] = {}
    for node in ast.parse(source).body[0].body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            text = comments.get(node.lineno)
            if text is None:  # comment lines directly above
                above, line = [], node.lineno - 1
                while line >= 1 and lines[line - 1].strip().startswith("#"):
                    above.insert(0, comments.get(line, ""))
                    line -= 1
                text = " ".join(above)
            out[node.target.id] = text
    return out


def accepted_values(cls: type, namespace: Dict[str, Any]) -> Dict[str, str]:
    """``field -> constraint`` from the ``F.<kind>(d, "field", path, ...)`` calls of ``from_dict``."""
    from_dict = cls.__dict__.get("from_dict")
    if from_dict is None:
        return {}
    tree = ast.parse(textwrap.dedent(inspect.getsource(from_dict.__func__)))
    out: Dict[str, str] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if not (isinstance(node.func.value, ast.Name) and node.func.value.id == "F" and len(node.args) >= 2):
            continue
        key = node.args[1]
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            continue
        parts = []
        for kw in node.keywords:
            value = eval(compile(ast.Expression(kw.value), "<from_dict>", "eval"), namespace)
            if kw.arg == "choices":
                parts.append("one of " + ", ".join(f"`{v}`" for v in value))
            elif kw.arg == "minimum":
                parts.append(f">= {value}")
            elif kw.arg == "positive" and value:
                parts.append("> 0")
        if parts:
            out[key.value] = "; ".join(parts)
    return out


def tuple_comments(module: Any, name: str) -> List[Tuple[str, str]]:
    """The items of a module-level tuple of strings written one per line, with their comments."""
    source = inspect.getsource(module)
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{name} = ("))
    items = []
    for line in lines[start + 1 :]:
        if line.startswith(")"):
            break
        value, _, comment = line.partition("#")
        value = value.strip().rstrip(",").strip()
        if value:
            items.append((ast.literal_eval(value), comment.strip()))
    return items


# ---- types ---------------------------------------------------------------------------------


def render_type(annotation: str, classes: Dict[str, type]) -> str:
    """A dataclass field's annotation as JSON reads it: ``Optional[int]`` -> ``integer or null``."""

    def walk(node: ast.AST) -> str:
        if isinstance(node, ast.Name):
            if node.id in classes:
                return f"[{node.id}](#{node.id.lower()})"
            return SCALARS.get(node.id, node.id)
        if isinstance(node, ast.Subscript):
            head = node.value.id if isinstance(node.value, ast.Name) else ast.unparse(node.value)
            inner = node.slice
            args = list(inner.elts) if isinstance(inner, ast.Tuple) else [inner]
            if head == "Optional":
                return f"{walk(args[0])} or null"
            if head in ("Tuple", "List", "Sequence"):
                if head != "Tuple" or (len(args) == 2 and isinstance(args[1], ast.Constant)):
                    return f"list of {walk(args[0])}"
                return "[" + ", ".join(walk(a) for a in args) + "]"
            if head == "Dict":
                value = walk(args[1])
                return "object" if value == "any" else f"object of {value}"
        return ast.unparse(node)

    return walk(ast.parse(annotation, mode="eval").body)


def default_of(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "required"
    if isinstance(value, float):
        return f"`{value:.8g}`"
    if hasattr(value, "to_dict"):  # a record: its empty JSON form
        value = value.to_dict()
    return f"`{json.dumps(value)}`"


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def class_table(cls: type, classes: Dict[str, type], namespace: Dict[str, Any]) -> List[str]:
    comments = field_comments(cls)
    accepted = accepted_values(cls, namespace)
    rows = ["| key | type | default | accepts | meaning |", "| --- | --- | --- | --- | --- |"]
    for f in dataclasses.fields(cls):
        rows.append(
            f"| `{f.name}` | {render_type(str(f.type), classes)} | {default_of(f)} "
            f"| {cell(accepted.get(f.name, ''))} | {cell(comments.get(f.name, ''))} |"
        )
    return rows


def _nested(cls: type, classes: Dict[str, type]) -> List[type]:
    found = []
    for f in dataclasses.fields(cls):
        for name in classes:
            if name in str(f.type).replace("[", " ").replace("]", " ").replace(",", " ").split():
                found.append(classes[name])
    return found


def manifest_schema() -> str:
    from edgekit.bundle import manifest as M
    from edgekit.bundle import records as R
    from edgekit.devices import conversion_plan as P

    modules = {M.__name__: M, R.__name__: R}
    classes = {
        name: obj
        for module in modules.values()
        for name, obj in vars(module).items()
        if inspect.isclass(obj) and dataclasses.is_dataclass(obj) and obj.__module__ in modules
    }
    order: List[type] = []
    queue = [M.Manifest]
    while queue:  # breadth first from the top level: the order a reader meets the sections in
        cls = queue.pop(0)
        if cls not in order:
            order.append(cls)
            queue.extend(_nested(cls, classes))
    unused = sorted(set(classes.values()) - set(order), key=lambda c: c.__name__)
    out = [
        f"Schema version **{M.SCHEMA_VERSION}** (`schema_version`; a reader refuses a newer one and "
        "reads version 1, whose `target` carried the engine `build` and whose verification figures "
        "were free-form). Every section refuses a field it does not know, naming it. Generated at "
        "build time from the dataclasses of `edgekit/bundle/manifest.py` and `records.py`: the "
        "accepted values are read off each section's `from_dict`, the meanings off the comments "
        "beside the fields.",
        "",
    ]
    for cls in order + unused:
        out += [f"### {cls.__name__}", ""]
        doc = inspect.getdoc(cls) or ""
        if doc and not doc.startswith(cls.__name__ + "("):  # dataclasses invent a signature docstring
            out += [doc, ""]
        out += [*class_table(cls, classes, vars(modules[cls.__module__])), ""]
    out += [
        "### Output roles",
        "",
        "What an output tensor holds (`outputs[].role`); the decoder reads roles.",
        "",
    ]
    out += ["| role | holds |", "| --- | --- |"]
    out += [f"| `{role}` | {cell(comment)} |" for role, comment in tuple_comments(M, "OUTPUT_ROLES")]
    out += ["", "### target (the conversion plan)", ""]
    out += [
        "`target` is `ConversionPlan.to_dict()` of `edgekit/devices/conversion_plan.py` "
        "(its own `schema`), with `backend_options` written as `{backend: {key: value}}`; a "
        "TensorRT bundle records how the device builds its engine in `build` (`EngineBuild`), "
        "which `edgekit build` and `Detector` read.",
        "",
    ]
    out += [*class_table(P.ConversionPlan, {}, vars(P)), ""]
    return "\n".join(out)


# ---- devices -------------------------------------------------------------------------------


def _version_key(text: str) -> Tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def jetpack_releases() -> str:
    from edgekit.devices import jetpack
    from edgekit.devices.profiles import JetPackRelease

    releases = sorted(
        (r for r in vars(jetpack).values() if isinstance(r, JetPackRelease)),
        key=lambda r: _version_key(r.version),
    )
    rows = [
        "| JetPack | L4T | TensorRT | CUDA | Python | Ubuntu | max ONNX opset | DLA engines | checked "
        "against |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in releases:
        rows.append(
            f"| {r.version} | {r.l4t} | {r.tensorrt} | {r.cuda} | {r.python} | {r.ubuntu} "
            f"| {r.max_opset} | {'yes' if r.dla else 'no'} | {cell(r.source)} |"
        )
    return "\n".join(rows)


def jetson_boards() -> str:
    from edgekit.devices.catalog import profiles

    rows = [
        "| `--target` | board | memory GB | INT8 | FP16 | DLA cores | JetPack (default *) | aliases |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in profiles():
        if not p.is_jetson:
            continue
        lines = " ".join(r.version + ("*" if r.version == p.default_jetpack else "") for r in p.jetpacks)
        memory = ", ".join(str(m) for m in p.memory_gb) or "-"
        aliases = ", ".join(f"`{a}`" for a in p.aliases) or "-"
        yes = {True: "yes", False: "no"}
        rows.append(
            f"| `{p.name}` | {p.title} | {memory} | {yes[p.int8]} | {yes[p.fp16]} | {p.dla_cores} "
            f"| {lines} | {aliases} |"
        )
    return "\n".join(rows)


# ---- API -----------------------------------------------------------------------------------


def api_blocks() -> str:
    """One mkdocstrings block per public name (``edgekit.__all__``), at its defining module."""
    import edgekit

    out = []
    for name in edgekit.__all__:
        if name in edgekit._LAZY:
            module, attr = edgekit._LAZY[name]
            out += [f"## `edgekit.{name}`", "", f"::: {module}.{attr}", "    options:"]
            out += ["      show_root_full_path: false", "      heading_level: 3", ""]
        else:
            value = getattr(edgekit, name)
            out += [f"## `edgekit.{name}`", "", f"`{value!r}`", ""]
    return "\n".join(out)


GENERATORS = {
    "manifest-schema": manifest_schema,
    "jetpack-releases": jetpack_releases,
    "jetson-boards": jetson_boards,
    "api": api_blocks,
}


# ---- errors --------------------------------------------------------------------------------


def user_error_classes() -> Dict[str, type]:
    """Every user-facing error class a user can meet: ``edgekit.errors`` and the pipeline's."""
    from edgekit import errors
    from edgekit.pipeline import capture

    found = {}
    for module in (errors, capture):
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, errors.EdgekitError)
                and obj.__module__ == module.__name__
            ):
                found[name] = obj
    return found


def annotate_errors(markdown: str) -> str:
    classes = user_error_classes()
    seen: List[str] = []
    out: List[str] = []
    for line in markdown.splitlines():
        out.append(line)
        if line.startswith("### "):
            name = line[4:].strip().strip("`")
            cls: Optional[type] = classes.get(name)
            if cls is None:
                continue
            seen.append(name)
            base = cls.__mro__[1].__name__
            doc = " ".join((inspect.getdoc(cls) or "").split())
            out += ["", f"`{cls.__module__}.{name}` ({base}, exit code {cls.exit_code}): {doc}"]
    missing = sorted(set(classes) - set(seen))
    if missing:
        _fail(f"troubleshooting.md has no '### Name' section for {', '.join(missing)}")
    return "\n".join(out) + "\n"


# ---- the hook ------------------------------------------------------------------------------


def render(markdown: str, src_path: str = "") -> str:
    """``markdown`` with every marker replaced (and the errors annotated on troubleshooting.md)."""
    for name, generate in GENERATORS.items():
        marker = f"<!-- gen:{name} -->"
        if marker in markdown:
            markdown = markdown.replace(marker, generate())
    if src_path.replace("\\", "/") == "troubleshooting.md":
        markdown = annotate_errors(markdown)
    return markdown


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return render(markdown, page.file.src_path)
