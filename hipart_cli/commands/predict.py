"""`hipart predict`."""
from __future__ import annotations

from hipart_cli.common import ConfigOpt, SetOpt, resolve_config
from pipelines.errors import UserError


def predict(config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Lift your own COCO-17 / H36M-17 keypoints to 3D, with densified 2D."""
    resolve_config(config, set_)
    raise UserError("not available yet: hipart predict (issue 7)")
