"""A small CPU mesh renderer (torch, no extra packages): depth map, face index, shaded image, visibility.

Conventions of ``pipelines.data.camera``: camera frame in mm, ``x = f X/Z + c``, pixel ``(i, j)`` covers
``[i, i+1) x [j, j+1)`` and is sampled at its centre ``(i + 0.5, j + 0.5)``. Image sizes are
``(width, height)`` like ``Camera.size``; arrays are ``(H, W[, 3])``.

The rasteriser expands every face to the pixel centres of its bounding box, keeps those inside the
triangle and resolves the z-buffer with one ``scatter_reduce(amin)`` over an int64 key (quantised depth
in the high bits, face index in the low bits): the nearest face wins, equal depths go to the lower face
index, and the result does not depend on the order of the pairs, so it is deterministic. Faces with a
vertex closer than ``NEAR_MM`` are dropped rather than clipped (the renderer is for people in front of
the camera).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pipelines.data.camera import Camera
from pipelines.data.textures import TextureLibrary

NEAR_MM = 1.0
DEPTH_QUANTUM_MM = 1e-4  # z-buffer key resolution (0.1 um)
CHUNK_PAIRS = 1 << 22  # (face, pixel) candidates per reduction (~4M, a few hundred MB at most)
AMBIENT, DIFFUSE = 0.35, 0.65
DEFAULT_COLOR = (0.7, 0.7, 0.7)
VISIBLE_THRESHOLD = 0.1  # joint_visibility score below which a joint counts as hidden (see hidden_mask)
_INT64_MAX = torch.iinfo(torch.int64).max


@dataclass(frozen=True)
class Render:
    image: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 camera Z in mm, +inf on the background
    face_index: np.ndarray  # (H, W) int64, -1 on the background
    camera: Camera  # the camera the mesh was rendered with


# ------------------------------------------------------------------------------------------ crops
def crop_camera(camera: Camera, points_px: np.ndarray, size: int, scale: float = 1.25) -> tuple[Camera, np.ndarray]:
    """The virtual camera of a square ``size`` x ``size`` crop around ``points_px`` (N, 2) full-image px.

    The crop side is ``scale * max(w, h)`` of the points' box, centred on the box centre; returns the
    crop camera (same R, t) and ``box = [x0, y0, side]`` (full-image px), see :func:`crop_to_image`.
    """
    points_px = np.asarray(points_px, np.float64).reshape(-1, 2)
    low, high = points_px.min(0), points_px.max(0)  # (2,), (2,)
    side = max(float(scale) * float((high - low).max()), 1e-6)
    corner = (low + high) / 2 - side / 2  # (2,) x0, y0
    k = size / side
    crop = Camera(
        R=camera.R,
        t=camera.t,
        f=np.asarray(camera.f, np.float64) * k,
        c=(np.asarray(camera.c, np.float64) - corner) * k,
        size=(int(size), int(size)),
    )
    return crop, np.array([corner[0], corner[1], side])


def crop_to_image(points: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Crop px (..., 2) -> full-image px: ``full = crop * side / size + (x0, y0)``."""
    return np.asarray(points, np.float64) * (box[2] / size) + np.asarray(box[:2])


def image_to_crop(points: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Full-image px (..., 2) -> crop px, the inverse of :func:`crop_to_image`."""
    return (np.asarray(points, np.float64) - np.asarray(box[:2])) * (size / box[2])


# -------------------------------------------------------------------------------------- rasteriser
def _setup_faces(v: torch.Tensor, faces: torch.Tensor, f: torch.Tensor, c: torch.Tensor, width: int, height: int):
    """Projected corners and pixel boxes of the faces that can cover a pixel centre.

    -> (face ids (F',), corners (F', 3, 2) px, corner Z (F', 3), box (F', 4) i0, j0, i1, j1 inclusive).
    """
    z = v[:, 2]  # (V,)
    px = v[:, :2] / z.clamp_min(NEAR_MM)[:, None] * f + c  # (V, 2)
    tri, tz = px[faces], z[faces]  # (F, 3, 2), (F, 3)
    low, high = tri.min(1).values, tri.max(1).values  # (F, 2)
    limit = torch.tensor([width, height], dtype=v.dtype)
    # pixel i is a candidate when its centre i + 0.5 lies in [low, high]; clamp first so huge
    # coordinates near the camera plane stay representable as integers
    first = torch.minimum(torch.ceil(low - 0.5).clamp_min(0), limit).long()
    last = torch.minimum(torch.floor(high - 0.5).clamp_min(-1), limit - 1).long()
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    area = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]  # (F,) twice the signed area
    keep = (tz > NEAR_MM).all(1) & (first <= last).all(1) & (area.abs() > 1e-12)
    ids = torch.nonzero(keep).squeeze(1)
    return ids, tri[ids], tz[ids], torch.cat([first[ids], last[ids]], 1)


def _split_tall_boxes(ids, tri, tz, box, chunk: int):
    """Cut boxes of more than ``chunk`` pixels into bands of whole rows, so one huge face never makes a
    reduction larger than a chunk (the bands of a face share its id; the z-buffer does not mind)."""
    width, height = box[:, 2] - box[:, 0] + 1, box[:, 3] - box[:, 1] + 1
    band = torch.div(chunk, width, rounding_mode="floor").clamp_min(1)  # rows per band
    bands = torch.div(height + band - 1, band, rounding_mode="floor")  # 1 for almost every face
    if bool((bands == 1).all()):
        return ids, tri, tz, box
    src = torch.repeat_interleave(torch.arange(len(bands)), bands)
    k = torch.arange(len(src)) - (torch.cumsum(bands, 0) - bands)[src]  # band number within its face
    top = box[src, 1] + k * band[src]
    bottom = torch.minimum(top + band[src] - 1, box[src, 3])
    return ids[src], tri[src], tz[src], torch.stack([box[src, 0], top, box[src, 2], bottom], 1)


def _chunks(counts: torch.Tensor, chunk: int) -> list[tuple[int, int]]:
    """Consecutive face ranges of at most ``chunk`` candidate pairs (a face over it gets a range of its own)."""
    ends = torch.cumsum(counts, 0)
    out, start = [], 0
    while start < len(counts):
        base = int(ends[start - 1]) if start else 0
        stop = int(torch.searchsorted(ends, base + chunk, right=True))
        stop = max(stop, start + 1)
        out.append((start, stop))
        start = stop
    return out


def _pairs_depth(tri: torch.Tensor, tz: torch.Tensor, box: torch.Tensor):
    """Candidate (face, pixel) pairs of some faces -> (local face (P,), pixel i, j (P,), depth (P,)), inside only."""
    span = box[:, 2:] - box[:, :2] + 1  # (n, 2) box width, height
    counts = span[:, 0] * span[:, 1]
    face = torch.repeat_interleave(torch.arange(len(counts)), counts)  # (P,)
    offset = torch.cumsum(counts, 0) - counts
    local = torch.arange(len(face)) - offset[face]
    i = box[face, 0] + local % span[face, 0]
    j = box[face, 1] + torch.div(local, span[face, 0], rounding_mode="floor")
    x, y = i.to(tri.dtype) + 0.5, j.to(tri.dtype) + 0.5
    p = tri[face]  # (P, 3, 2)

    def edge(a, b):  # signed area of (p_a, p_b, pixel): the barycentric weight of the third corner
        return (p[:, b, 0] - p[:, a, 0]) * (y - p[:, a, 1]) - (p[:, b, 1] - p[:, a, 1]) * (x - p[:, a, 0])

    w = torch.stack([edge(1, 2), edge(2, 0), edge(0, 1)], 1)  # (P, 3)
    w = w / w.sum(1, keepdim=True)  # either winding -> sums to 1
    inside = (w >= -1e-9).all(1)  # no pinholes on shared edges
    w, face, i, j = w[inside], face[inside], i[inside], j[inside]
    depth = 1.0 / (w / tz[face]).sum(1)  # 1/Z is linear in screen space
    return face, i, j, depth


def rasterize(vertices_cam, faces, f, c, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Z-buffer of a triangle mesh: (V, 3) camera mm, (F, 3) int, f (2,), c (2,) px.

    -> depth (H, W) float32 mm (+inf on the background), face_index (H, W) int64 (-1 on the background).
    Both windings are drawn; degenerate faces and faces with a vertex at Z <= ``NEAR_MM`` are skipped.
    """
    v = torch.as_tensor(np.asarray(vertices_cam, np.float64))
    faces_t = torch.as_tensor(np.asarray(faces, np.int64))
    f_t, c_t = torch.as_tensor(np.asarray(f, np.float64)), torch.as_tensor(np.asarray(c, np.float64))
    ids, tri, tz, box = _split_tall_boxes(*_setup_faces(v, faces_t, f_t, c_t, width, height), CHUNK_PAIRS)
    bits = max(int(len(faces_t) - 1).bit_length(), 1)
    depth_max = (_INT64_MAX >> bits) - 1
    zbuf = torch.full((height * width,), _INT64_MAX, dtype=torch.int64)
    counts = (box[:, 2] - box[:, 0] + 1) * (box[:, 3] - box[:, 1] + 1)
    for start, stop in _chunks(counts, CHUNK_PAIRS):
        face, i, j, depth = _pairs_depth(tri[start:stop], tz[start:stop], box[start:stop])
        quantised = torch.round(depth / DEPTH_QUANTUM_MM).clamp(0, depth_max).long()
        key = (quantised << bits) | ids[start:stop][face]
        zbuf.scatter_reduce_(0, j * width + i, key, "amin", include_self=True)
    covered = zbuf != _INT64_MAX
    face_index = torch.where(covered, zbuf & ((1 << bits) - 1), torch.full_like(zbuf, -1))
    depth = torch.where(
        covered, (zbuf >> bits).double() * DEPTH_QUANTUM_MM, torch.full_like(zbuf, np.inf, dtype=torch.float64)
    )
    return (depth.reshape(height, width).numpy().astype(np.float32), face_index.reshape(height, width).numpy())


# ----------------------------------------------------------------------------------------- shading
def shade(
    face_index: np.ndarray, vertices_cam, faces, vertex_colors: np.ndarray | None, background: np.ndarray
) -> np.ndarray:
    """Flat Lambert shading with the light at the camera: ``colour * (AMBIENT + DIFFUSE |n.l|)``.

    face_index (H, W) from :func:`rasterize`, vertex_colors (V, 3) in [0, 1] (None: light grey; a face
    takes the mean of its corners), background (H, W, 3) uint8 where no face is seen. -> (H, W, 3) uint8.
    """
    v = np.asarray(vertices_cam, np.float64)
    faces = np.asarray(faces, np.int64)
    seen = np.unique(face_index[face_index >= 0])  # shade only the visible faces
    corners = v[faces[seen]]  # (S, 3, 3)
    normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    centre = corners.mean(1)
    light = -centre / np.maximum(np.linalg.norm(centre, axis=1, keepdims=True), 1e-12)
    intensity = AMBIENT + DIFFUSE * np.abs((normal * light).sum(1))  # (S,)
    if vertex_colors is None:
        color = np.broadcast_to(np.asarray(DEFAULT_COLOR), (len(seen), 3))
    else:
        color = np.asarray(vertex_colors, np.float64)[faces[seen]].mean(1)
    rgb = np.clip(color * intensity[:, None] * 255.0 + 0.5, 0, 255).astype(np.uint8)  # (S, 3)
    out = np.array(background, dtype=np.uint8, copy=True)
    mask = face_index >= 0
    out[mask] = rgb[np.searchsorted(seen, face_index[mask])]
    return out


def render_mesh(
    vertices_world_mm, faces, camera: Camera, background: np.ndarray, vertex_colors: np.ndarray | None = None
) -> Render:
    """Render a world-mm mesh (V, 3) with ``camera`` over ``background`` (H, W, 3) uint8 of ``camera.size``."""
    width, height = camera.size
    background = np.asarray(background)
    if background.shape != (height, width, 3):
        raise ValueError(f"background has shape {background.shape}, expected ({height}, {width}, 3)")
    cam = camera.to_camera(np.asarray(vertices_world_mm, np.float64))  # (V, 3)
    depth, face_index = rasterize(cam, faces, camera.f, camera.c, width, height)
    return Render(shade(face_index, cam, faces, vertex_colors, background), depth, face_index, camera)


# ------------------------------------------------------------------------------------- backgrounds
def _smooth_noise(size: tuple[int, int], rng: np.random.Generator, cells: int, channels: int) -> np.ndarray:
    """Unit-variance noise on a coarse grid, bicubically upsampled to (H, W, channels)."""
    width, height = size
    grid = torch.as_tensor(rng.standard_normal((1, channels, cells, cells)))
    up = torch.nn.functional.interpolate(grid, size=(height, width), mode="bicubic", align_corners=False)
    return up[0].permute(1, 2, 0).numpy()


def noise_background(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A plain wall: one colour, smooth low-frequency shading and a little pixel noise. (H, W, 3) uint8."""
    width, height = size
    grey = rng.uniform(70, 200)
    tint = rng.uniform(-25, 25, size=3)  # a muted colour cast
    low = _smooth_noise(size, rng, cells=int(rng.integers(3, 7)), channels=1) * rng.uniform(8, 25)
    pixel = rng.standard_normal((height, width, 3)) * 3.0
    return np.clip(grey + tint + low + pixel + 0.5, 0, 255).astype(np.uint8)


def texture_background(
    library: TextureLibrary, index: int, size: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """Texture ``index`` resized so it covers ``size`` (w, h) and cut at a random offset. (H, W, 3) uint8."""
    from PIL import Image

    width, height = size
    with Image.open(library.path(index)) as img:
        img = img.convert("RGB")
        k = max(width / img.width, height / img.height)
        scaled = (max(width, int(np.ceil(img.width * k))), max(height, int(np.ceil(img.height * k))))
        img = img.resize(scaled, Image.BILINEAR)
    x = int(rng.integers(0, scaled[0] - width + 1))
    y = int(rng.integers(0, scaled[1] - height + 1))
    return np.asarray(img)[y : y + height, x : x + width].copy()


# --------------------------------------------------------------------------------------- clothing
# first match wins: the pelvis bones (root, lowest spine) sit at or below the hip joints, so the
# trousers cover them; a shirt there reads as a bodysuit
PARTS = {"trousers": ("upperleg", "lowerleg", "root", "spine05"), "shoes": ("foot",), "shirt": ("spine", "upperarm")}


def body_part_colors(lbs_index: np.ndarray, bone_names: Sequence[str], rng: np.random.Generator) -> np.ndarray:
    """Clothing colours (V, 3) in [0, 1] by each vertex's dominant bone (``lbs_index[:, 0]``).

    Legs and pelvis wear trousers, feet shoes, the spine above the pelvis and the upper arms a shirt;
    head, neck and forearms with the hands keep a skin tone. Colours are drawn from ``rng`` within plausible ranges.
    """
    skin = np.array([0.95, 0.78, 0.66]) + rng.uniform(0, 1) * (np.array([0.36, 0.22, 0.15]) - [0.95, 0.78, 0.66])
    trousers = np.array([[0.12, 0.15, 0.30], [0.18, 0.18, 0.20], [0.45, 0.40, 0.30], [0.08, 0.08, 0.09]])
    colors = {
        "trousers": trousers[rng.integers(len(trousers))] * rng.uniform(0.8, 1.2),
        "shoes": np.full(3, rng.uniform(0.05, 0.3)),
        "shirt": _shirt_color(rng),
    }
    part_of_bone = np.array([skin] * len(bone_names))  # (K, 3)
    for k, name in enumerate(bone_names):
        part = next((part for part, prefixes in PARTS.items() if str(name).startswith(prefixes)), None)
        if part is not None:
            part_of_bone[k] = colors[part]
    return np.clip(part_of_bone[np.asarray(lbs_index)[:, 0]], 0, 1)


def _shirt_color(rng: np.random.Generator) -> np.ndarray:
    """A random hue at moderate saturation and value (HSV -> RGB)."""
    hue, sat, val = rng.uniform(0, 1), rng.uniform(0.25, 0.8), rng.uniform(0.35, 0.9)
    k = (np.array([5.0, 3.0, 1.0]) + hue * 6) % 6
    return val - val * sat * np.clip(np.minimum(k, 4 - k), 0, 1)


# -------------------------------------------------------------------------------------- visibility
def vertex_visibility(vertices_cam, depth: np.ndarray, camera: Camera, tolerance_mm: float = 15.0) -> np.ndarray:
    """(V,) bool: the vertex projects inside the image and its Z is at most the depth map there + tolerance."""
    v = np.asarray(vertices_cam, np.float64)
    height, width = depth.shape
    front = v[:, 2] > NEAR_MM
    px = camera.project(np.where(front[:, None], v, 1.0))  # (V, 2)
    i, j = np.floor(px[:, 0]).astype(np.int64), np.floor(px[:, 1]).astype(np.int64)
    inside = front & (i >= 0) & (i < width) & (j >= 0) & (j < height)
    surface = depth[np.clip(j, 0, height - 1), np.clip(i, 0, width - 1)]
    return inside & (v[:, 2] <= surface + tolerance_mm)


def joint_visibility(vertex_visible: np.ndarray, regressor: np.ndarray) -> np.ndarray:
    """(J,) float32 in [0, 1]: the regressor-weighted share of a joint's supporting vertices that are visible.

    A joint lies inside the body, so its own depth says nothing against the depth map; its supporting
    vertices (regressor weight > 0) are the surface around it. Even an unoccluded joint scores about a
    half (its far side faces away), one hidden behind the body or another limb scores near 0; see
    :func:`hidden_mask`. A joint without positive weights scores 0.
    """
    weight = np.clip(np.asarray(regressor, np.float64), 0, None)  # (J, V)
    total = weight.sum(1)
    seen = weight @ np.asarray(vertex_visible, np.float64)
    return np.where(total > 0, seen / np.maximum(total, 1e-12), 0.0).astype(np.float32)


def hidden_mask(scores: np.ndarray) -> np.ndarray:
    """(J,) bool: joints whose :func:`joint_visibility` score is below ``VISIBLE_THRESHOLD``.

    On sample-corpus renders (all four cameras) the scores pile up below 0.05 (a limb behind the torso,
    the spine behind crossed arms, the nose seen from behind), are sparse and flat from 0.05 to 0.2
    and then rise to the bulk near 0.5. Far-side hips and shoulders of three-quarter views, still
    partly in sight, score 0.1 to 0.25, so the cut sits at the low end of the flat stretch: about
    one joint in ten is hidden, the same share at 256 px crops and at full resolution.
    """
    return np.asarray(scores) < VISIBLE_THRESHOLD
