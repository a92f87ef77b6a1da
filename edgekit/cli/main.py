"""The ``edgekit`` command: a click group whose subcommands are imported on use."""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from typing import Any, Dict, List, Optional, Tuple

import click

from edgekit import __version__
from edgekit.errors import EdgekitError

# name -> (module, attribute, one-line help shown by `edgekit --help` without importing it)
COMMANDS: Dict[str, Tuple[str, str, str]] = {
    "doctor": (
        "edgekit.cli.doctor",
        "doctor",
        "Report the host, its accelerators and the importable backends.",
    ),
    "devices": ("edgekit.cli.devices", "devices", "List target device profiles."),
    "convert": (
        "edgekit.cli.convert",
        "convert_cmd",
        "Convert a checkpoint into a verified bundle for a target.",
    ),
    "build": ("edgekit.cli.build", "build", "Build a Jetson bundle's TensorRT engine on this device."),
    "triton": (
        "edgekit.cli.triton",
        "triton",
        "Export a bundle as a Triton Inference Server model repository.",
    ),
    "predict": ("edgekit.cli.predict", "predict", "Run a bundle on images: print, save annotated, or JSON."),
    "val": ("edgekit.cli.val", "val", "Evaluate a bundle on a labelled set (YOLO data.yaml or COCO json)."),
    "benchmark": (
        "edgekit.cli.benchmark",
        "benchmark_cmd",
        "Benchmark latency, throughput, memory, size and mAP per backend x precision.",
    ),
    "show": ("edgekit.cli.show", "show", "Validate a bundle and summarise its manifest."),
    "compare": (
        "edgekit.cli.compare",
        "compare",
        "Run two models (bundles, ONNX/IR/TFLite files, a checkpoint) and compare every output.",
    ),
    "inspect": (
        "edgekit.cli.inspect",
        "inspect_cmd",
        "Describe a checkpoint: family, classes, train-time structures.",
    ),
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that command runs."""

    def list_commands(self, ctx: click.Context) -> List[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> Optional[click.Command]:
        if cmd_name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[cmd_name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgekit")
@click.option("--debug", is_flag=True, envvar="EDGEKIT_DEBUG", help="Show tracebacks of errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Convert trained PyTorch detectors into bundles that run on edge devices."""
    ctx.obj = {"debug": debug}


def _one_line_warning(message: Any, category: Any, *_args: Any, **_kwargs: Any) -> None:
    click.echo(f"warning: {message}", err=True)


def main(argv: Optional[List[str]] = None) -> Any:
    """Entry point: user errors become one line on stderr and a non-zero exit."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("EDGEKIT_DEBUG", "") not in ("", "0")
    if not debug:
        warnings.showwarning = _one_line_warning  # "warning: ..." as users read errors; no source lines
    try:
        return cli.main(args=args, prog_name="edgekit", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except EdgekitError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
