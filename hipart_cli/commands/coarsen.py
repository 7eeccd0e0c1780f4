"""`hipart coarsen`."""
from __future__ import annotations

from hipart_cli.common import ConfigOpt, SetOpt, resolve_config
from pipelines.errors import UserError


def coarsen(config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Body model + motions + cameras -> HEM hierarchy -> HDF5 pose store."""
    resolve_config(config, set_)
    raise UserError("not available yet: hipart coarsen (issue 3)")
