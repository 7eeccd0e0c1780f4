"""`hipart occlude`."""
from __future__ import annotations

from hipart_cli.common import ConfigOpt, SetOpt, resolve_config
from pipelines.errors import UserError


def occlude(config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Build an AdvOcc occlusion set (patch grid, textures, occluded 2D or images)."""
    resolve_config(config, set_)
    raise UserError("not available yet: hipart occlude (issue 8)")
