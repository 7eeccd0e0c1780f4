"""hipart: 3D human pose from 2D keypoints, images and video, through HiPART's hierarchical 2D levels.

    from hipart import load_model
    model = load_model()                      # the model shipped with hipart, or a lift run directory
    pred = model(keypoints)                   # (N, 17, 2|3) H36M-17 px -> Prediction (kp3d mm, levels px, ...)
    pred = model.predict_video("clip.mp4")    # every person, tracked, smoothed (detect extra)

The subpackages are the model itself (torch + numpy only, no file I/O): ``hipart.lifter``,
``hipart.hiarm``, ``hipart.msst``, ``hipart.densify``, ``hipart.end_to_end``, ``hipart.metrics``. The
three names above are loaded on first use from the pipelines (pipelines.models.api), which read
checkpoints and media; the CLI (``hipart``) is a shell over the same functions.
"""

__version__ = "0.1.0"
__all__ = ["Model", "Prediction", "__version__", "load_model"]


def __getattr__(name: str):
    if name in ("load_model", "Model", "Prediction"):
        from pipelines.models import api  # deferred: the model subpackages never need the pipelines

        return getattr(api, name)
    raise AttributeError(f"module 'hipart' has no attribute {name!r}")
