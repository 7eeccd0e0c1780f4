"""`hipart train-lift`."""
from __future__ import annotations

from hipart_cli.common import ConfigOpt, SetOpt, resolve_config
from pipelines.errors import UserError


def train_lift(config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Train the 2D->3D lifter on sparse (and densified) 2D levels."""
    resolve_config(config, set_)
    raise UserError("not available yet: hipart train-lift (issue 7)")
