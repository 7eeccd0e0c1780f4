"""`hipart evaluate`."""
from __future__ import annotations

from hipart_cli.common import ConfigOpt, SetOpt, resolve_config
from pipelines.errors import UserError


def evaluate(config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Evaluate a lifter under a protocol (h36m, 3dpw, 3dpw-occ, advocc40, advocc80)."""
    resolve_config(config, set_)
    raise UserError("not available yet: hipart evaluate (issue 7)")
