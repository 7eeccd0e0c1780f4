"""`hipart train-msst`."""
from __future__ import annotations

from hipart_cli.common import ConfigOpt, SetOpt, resolve_config
from pipelines.errors import UserError


def train_msst(config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Train stage 1, the Multi-Scale Skeletal Tokenizer."""
    resolve_config(config, set_)
    raise UserError("not available yet: hipart train-msst (issue 5)")
