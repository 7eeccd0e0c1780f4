"""Pictures and video in and out, for `hipart predict --images / --video` (RGB uint8 arrays throughout).

Images (.jpg, .jpeg, .png) are read with Pillow, EXIF orientation applied, as phone photos need.
Video is read and written with OpenCV's FFmpeg backend: OpenCV comes with the ``detect`` extra
(MediaPipe depends on it) and ships its own FFmpeg, so nothing else is installed and nothing is
downloaded. Written video is MPEG-4 part 2 (``mp4v``) in an .mp4 container, the codec every OpenCV
wheel can encode.

Every writer goes through a temporary name in the target folder and is renamed when complete, so a
reader never sees half a file. Temporary names keep the real suffix last: OpenCV and FFmpeg choose
the container by it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from pipelines.core.atomic import remove
from pipelines.core.errors import UserError
from pipelines.data.detector import native_stderr_silenced as _quiet_native_stderr

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov")
# a frame count from the container header may be an estimate (duration x rate); fewer frames than
# this slack below it means the file ends early
FRAME_COUNT_SLACK = 2


def _cv2():
    """OpenCV, or a UserError naming the extra that brings it."""
    try:
        import cv2
    except ImportError:
        raise UserError('media: OpenCV is not installed; install the extra: pip install -e ".[detect]"') from None
    return cv2


# ------------------------------------------------------------------------------------------ images
def list_images(paths: Sequence[str | Path]) -> list[Path]:
    """``--images`` arguments -> image files: a folder gives its .jpg/.jpeg/.png files sorted by name
    (not its subfolders), a file is taken as given; the order of the arguments is kept."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not inside:
                raise UserError(f"{path}: no images in this folder (expected {', '.join(IMAGE_SUFFIXES)} files)")
            found += inside
        elif not path.exists():
            raise UserError(f"{path}: image file or folder not found")
        elif path.suffix.lower() not in IMAGE_SUFFIXES:
            raise UserError(f"{path}: not an image file type '{path.suffix}', expected {', '.join(IMAGE_SUFFIXES)}")
        else:
            found.append(path)
    if not found:
        raise UserError("--images: no image files or folders given")
    return found


def read_image(path: str | Path) -> np.ndarray:
    """An image file -> (H, W, 3) uint8 RGB, upright by its EXIF orientation."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        reason = str(exc).split("\n")[0] or type(exc).__name__
        raise UserError(f"{path}: not a readable image ({reason})") from None


def write_png(path: str | Path, image_rgb: np.ndarray) -> None:
    """(H, W, 3) uint8 RGB -> a PNG file, atomically."""
    cv2 = _cv2()
    ok, data = cv2.imencode(".png", np.ascontiguousarray(image_rgb[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    assert ok, "PNG encoding failed"
    with _temporary(path) as tmp:
        tmp.write_bytes(data.tobytes())


@contextmanager
def _temporary(path: str | Path):
    """A temporary path next to ``path`` with the same suffix, renamed to ``path`` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        yield tmp
    except BaseException:
        remove(tmp)
        raise
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------- video
class VideoReader:
    """A video file, checked on opening: ``fps``, ``size`` (w, h), ``frame_count`` (the header's) and
    iteration over its frames as (H, W, 3) uint8 RGB. Each iteration reads the file again from the start."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"{self.path}: video file not found")
        if self.path.suffix.lower() not in VIDEO_SUFFIXES:
            raise UserError(
                f"{self.path}: not a video file type '{self.path.suffix}', expected {', '.join(VIDEO_SUFFIXES)}"
            )
        cv2 = _cv2()
        capture = self._open()
        try:
            fps = capture.get(cv2.CAP_PROP_FPS)
            self.fps = float(fps) if np.isfinite(fps) and fps > 0 else None
            self.frame_count = max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
            with _quiet_native_stderr():
                ok, first = capture.read()
        finally:
            capture.release()
        if not ok or first is None:
            raise UserError(f"{self.path}: the video has no frame that can be decoded")
        self.size = (int(first.shape[1]), int(first.shape[0]))

    def _open(self):
        cv2 = _cv2()
        # FFmpeg and OpenCV log straight to file descriptor 2 ("moov atom not found"), which would
        # follow our one-line error; Python errors still arrive as exceptions
        with _quiet_native_stderr():
            capture = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not capture.isOpened():
            capture.release()
            raise UserError(f"{self.path}: not a readable video (damaged, truncated or an unknown codec)")
        return capture

    def __iter__(self) -> Iterator[np.ndarray]:
        capture = self._open()
        count = 0
        try:
            while True:
                with _quiet_native_stderr():  # damaged packets are logged there
                    ok, frame = capture.read()
                if not ok or frame is None:
                    break
                count += 1
                yield frame[..., ::-1]  # BGR -> RGB view
        finally:
            capture.release()
        if count < self.frame_count - FRAME_COUNT_SLACK:
            raise UserError(
                f"{self.path}: the video ends after {count} of its {self.frame_count} frames (truncated or damaged)"
            )


@contextmanager
def video_writer(path: str | Path, fps: float, size: tuple[int, int]):
    """Yield ``write(frame)`` for (H, W, 3) uint8 RGB frames of ``size`` (w, h, both even); the .mp4
    appears under ``path`` when the block succeeds."""
    cv2 = _cv2()
    width, height = size
    if width % 2 or height % 2:
        raise ValueError(f"video size {size}: width and height must be even for mp4v")
    with _temporary(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width, height))
        if not writer.isOpened():
            raise UserError(f"{path}: OpenCV cannot write mp4v video here")

        def write(frame: np.ndarray) -> None:
            # OpenCV silently drops frames of another size, so refuse them here
            if frame.shape != (height, width, 3) or frame.dtype != np.uint8:
                raise ValueError(f"video frame {frame.shape} {frame.dtype}, expected ({height}, {width}, 3) uint8")
            writer.write(np.ascontiguousarray(frame[..., ::-1]))

        try:
            yield write
        finally:
            writer.release()
