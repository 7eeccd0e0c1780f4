"""`hipart synth`."""
from __future__ import annotations

from hipart_cli.common import ConfigOpt, SetOpt, resolve_config
from pipelines.errors import UserError


def synth(config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Generate the licence-free sample corpus with the Anny body model (extra 'synth')."""
    resolve_config(config, set_)
    raise UserError("not available yet: hipart synth (issue 4)")
