"""`hipart demo`."""
from __future__ import annotations

from hipart_cli.common import ConfigOpt, SetOpt, console, print_table
from pipelines.demo import stage_status


def demo(config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Run the whole chain on sample_data/ with configs/tiny.toml and print the results table."""
    status = stage_status()
    print_table("hipart demo: stages", ["stage", "status"], [[s, "ready" if ok else "not built yet"] for s, ok in status])
    missing = [s for s, ok in status if not ok]
    if missing:
        console.print(f"[yellow]not built yet: {', '.join(missing)}; nothing was run[/yellow]")
