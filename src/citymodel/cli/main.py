"""The ``citymodel`` command group: logging, error handling and lazy subcommands."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from citymodel import __version__
from citymodel.errors import CityModelError

__all__ = ["cli", "main"]

_COMMANDS = {
    "info": ("citymodel.cli.info", "info"),
    "convert": ("citymodel.cli.convert", "convert"),
    "combine": ("citymodel.cli.combine", "combine"),
    "synthetic": ("citymodel.cli.synthetic", "synthetic"),
    "tile": ("citymodel.cli.tile", "tile"),
    "serve": ("citymodel.cli.serve", "serve"),
    "view": ("citymodel.cli.view", "view"),
}


class _LazyGroup(click.Group):
    """Imports a subcommand's module only when that command runs (keeps start-up cheap)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module = importlib.import_module(target[0])
        command: click.Command = getattr(module, target[1])
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CityModelError as err:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            message = " ".join(str(err).split())  # one line
            raise click.ClickException(message) from err


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.setFormatter(logging.Formatter("citymodel: %(levelname)s: %(message)s"))


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``--version``: the version, and whether the compiled extensions are in use."""
    if not value or ctx.resilient_parsing:
        return
    from citymodel.converters._citygml_fast import status  # lxml only when asked
    from citymodel.tiler.points.kernels import status as kernels

    click.echo(
        f"citymodel, version {__version__}\ncompiled CityGML walker: {status()}\n"
        f"compiled point kernels: {kernels()}"
    )
    ctx.exit()


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version (and whether the compiled CityGML walker is used) and exit.",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool, debug: bool) -> None:
    """Convert city models (CityGML) to georeferenced glTF/GLB/OBJ and 3D Tiles."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    level = (
        logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    )
    root = logging.getLogger("citymodel")
    root.setLevel(level)
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        root.addHandler(_StderrHandler())


def main() -> None:
    """Console entry point."""
    cli(prog_name="citymodel")
