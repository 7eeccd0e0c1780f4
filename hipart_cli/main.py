"""The `hipart` entry point: registers one thin function per command and owns the error path.

User errors (``pipelines.core.errors.UserError``) print one red line and exit 2, with no traceback;
anything else is an internal failure (exit 1, traceback for the bug report).
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from hipart_cli.commands import (
    ablation,
    bench,
    coarsen,
    demo,
    evaluate,
    export,
    info,
    occlude,
    predict,
    render,
    synth,
    train_hiarm,
    train_lift,
    train_msst,
    train_regress,
)
from hipart_cli.common import err_console
from pipelines.core.errors import UserError


class HipartApp(typer.Typer):
    def __call__(self, *args, **kwargs):
        return main(*args, **kwargs)


app = HipartApp(
    name="hipart",
    help="HiPART: densify sparse 2D poses into hierarchical 2D poses and lift them to 3D.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.command("coarsen")(coarsen.coarsen)
app.command("synth")(synth.synth)
app.command("train-msst")(train_msst.train_msst)
app.command("train-hiarm")(train_hiarm.train_hiarm)
app.command("train-lift")(train_lift.train_lift)
app.command("train-regress")(train_regress.train_regress)
app.command("build-knn")(train_regress.build_knn)
app.command("evaluate")(evaluate.evaluate)
app.command("occlude")(occlude.occlude)
app.command("predict")(predict.predict)
app.command("render")(render.render)
app.command("export")(export.export)
app.command("bench")(bench.bench)
app.command("demo")(demo.demo)
app.command("info")(info.info)
app.command("ablation")(ablation.ablation)


def main(args: list[str] | None = None, prog_name: str = "hipart") -> int:
    """Run the CLI; returns (and, as a script, exits with) the exit code."""
    command = typer.main.get_command(app)
    try:
        # standalone mode: the Typer/Click machinery prints usage errors itself and raises SystemExit
        command.main(args=args, prog_name=prog_name, standalone_mode=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except UserError as exc:
        err_console.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        code = 2
    if args is None:
        sys.exit(code)
    return code


if __name__ == "__main__":
    main()
