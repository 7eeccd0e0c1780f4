"""`hipart train-hiarm`."""
from __future__ import annotations

from hipart_cli.common import ConfigOpt, SetOpt, resolve_config
from pipelines.errors import UserError


def train_hiarm(config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Train stage 2, the HiARM generator (needs a stage-1 checkpoint)."""
    resolve_config(config, set_)
    raise UserError("not available yet: hipart train-hiarm (issue 6)")
