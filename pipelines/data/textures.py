"""DTD textures for the AdvOcc patches (3DNBF's 3DPW-AdvOcc, docs/protocols.md section 4).

A DTD folder is ``<root>/images/<category>/<name>.jpg`` (47 categories in the real dataset) with an
optional split file ``<root>/labels/test1.txt`` listing ``<category>/<name>.jpg`` one per line; when
it exists only the listed images that are on disk are used (the protocol draws from the test split).
A folder that directly holds ``<category>/*.jpg`` is accepted too.

Each patch gets a random texture and a random crop: the texture is resized so its short side is the
reference crop side (224 px), then a ``size x size`` window is cut at a random offset. The texture
index and the offset are drawn per (sample, position) from a seeded generator and recorded in the
occlusion set, so the image crops can be rebuilt exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from pipelines.core.errors import UserError
from pipelines.core.paths import SAMPLE_DIR

DEFAULT_TEXTURES = SAMPLE_DIR / "textures" / "dtd"
SPLIT_FILE = Path("labels") / "test1.txt"
EXTENSIONS = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class TextureLibrary:
    """The usable textures of one DTD folder: relative names and their size after the resize."""

    root: Path
    names: tuple[str, ...]  # "<category>/<file>", sorted
    resized: np.ndarray  # (T, 2) int (w, h) after resizing the short side to `crop`
    crop: int  # reference crop side (px) the short side is resized to
    split_file: bool  # True when labels/test1.txt selected the names

    def __len__(self) -> int:
        return len(self.names)

    def path(self, index: int) -> Path:
        return self.image_dir / self.names[index]

    @property
    def image_dir(self) -> Path:
        return self.root / "images" if (self.root / "images").is_dir() else self.root


def resized_size(width: int, height: int, crop: int) -> tuple[int, int]:
    """(w, h) after scaling the short side to ``crop`` (the long side rounded, at least ``crop``)."""
    short = min(width, height)
    return max(crop, round(width * crop / short)), max(crop, round(height * crop / short))


def load_textures(root: str | Path | None = None, crop: int = 224) -> TextureLibrary:
    """Read a DTD-layout folder (default: the sample textures). Empty or missing -> UserError."""
    from PIL import Image

    root = Path(root) if root else DEFAULT_TEXTURES
    if not root.is_dir():
        raise UserError(f"{root}: texture folder not found (expected a DTD folder images/<category>/*.jpg)")
    image_dir = root / "images" if (root / "images").is_dir() else root
    found = sorted(
        p.relative_to(image_dir).as_posix()
        for p in image_dir.glob("*/*")
        if p.suffix.lower() in EXTENSIONS and p.is_file()
    )
    split = root / SPLIT_FILE
    if split.is_file():
        listed = {line.strip() for line in split.read_text().splitlines() if line.strip()}
        found = [name for name in found if name in listed]
    if not found:
        listed = f" listed in {SPLIT_FILE}" if split.is_file() else ""
        raise UserError(f"{root}: no texture images found (expected a DTD folder images/<category>/*.jpg{listed})")
    sizes = []
    for name in found:
        try:
            with Image.open(image_dir / name) as img:
                sizes.append(resized_size(*img.size, crop))
        except OSError as exc:
            raise UserError(f"{image_dir / name}: not a readable image ({exc})") from None
    return TextureLibrary(root, tuple(found), np.asarray(sizes, np.int32).reshape(-1, 2), crop, split.is_file())


def draw_textures(library: TextureLibrary, size: int, seed: int, row: int, positions: int):
    """Texture index (P,) int32 and crop offset (P, 2) int32 (x, y) in the resized texture.

    One generator per (seed, store row), so a row gets the same patches whatever subset is built.
    """
    rng = np.random.default_rng([seed, 1, row])
    texture = rng.integers(0, len(library), size=positions).astype(np.int32)  # (P,)
    room = library.resized[texture] - size + 1  # (P, 2) valid offsets per axis
    offset = np.floor(rng.random((positions, 2)) * room).astype(np.int32)
    return texture, offset


@lru_cache(maxsize=64)
def _resized_texture(path: str, width: int, height: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB").resize((width, height), Image.BILINEAR))  # (h, w, 3) uint8


def texture_patch(library: TextureLibrary, index: int, offset, size: int) -> np.ndarray:
    """The ``size x size`` RGB window (uint8) of texture ``index`` at ``offset`` (x, y)."""
    width, height = (int(v) for v in library.resized[index])
    image = _resized_texture(str(library.path(index)), width, height)
    x, y = int(offset[0]), int(offset[1])
    return image[y : y + size, x : x + size]


def person_crop_image(image, crop_box, crop: int = 224) -> np.ndarray:
    """PIL image + [x0, y0, side] px -> (crop, crop, 3) uint8 RGB; outside the image is black."""
    from PIL import Image

    x0, y0, side = (float(v) for v in crop_box)
    out = image.convert("RGB").transform((crop, crop), Image.EXTENT, (x0, y0, x0 + side, y0 + side), Image.BILINEAR)
    return np.asarray(out)


def paste_patch(crop_image: np.ndarray, patch: np.ndarray, offset) -> np.ndarray:
    """Copy of the crop with the texture patch pasted at reference offset (x, y), clipped to the crop."""
    out = crop_image.copy()
    x, y = int(offset[0]), int(offset[1])
    h, w = (
        max(0, min(patch.shape[0], out.shape[0] - y)),
        max(0, min(patch.shape[1], out.shape[1] - x)),
    )  # 0: past the crop
    out[y : y + h, x : x + w] = patch[:h, :w]
    return out
