"""Several people per frame with the one-person BlazePose: find them, follow them, keep their identities.

MediaPipe's legacy pose graph returns one person per call, and the multi-pose landmarker of its Tasks API
needs a model bundle the wheel does not ship. So people are found one after another: BlazePose on the
frame, the person it found painted over (their landmarks' box, grown by ``MASK_GROW`` of its side, filled
with the frame's mean colour), BlazePose again, until it finds nobody, finds a box it already has, or
``max_people`` are found; a person whose body landmarks are on average less than ``MIN_BODY_VISIBILITY``
visible also ends the search (on real footage such finds were textures and lens flares, not people). An
image's people are numbered left to right (by the box centre).

In a video each person is a track, followed as BlazePose's own tracking follows one: in every frame
BlazePose runs on a crop around the track's last box (grown by ``CROP_GROW`` of its side on every side,
as people move between frames), and the person found there continues the track when their box overlaps
the last one by IoU >= ``MIN_IOU``. A track not found stays known for ``PATIENCE`` frames: people found
later whose box overlaps its last box by ``MIN_IOU`` take its identity back (a short occlusion keeps the
id). New people are searched for on the first frame, every ``RESCAN_EVERY`` frames and in every frame
while a track is lost (for ``PATIENCE`` frames), with every followed person painted over first; they
get the next free id, left to right. Two tracks that land on one person (IoU >= ``SAME_PERSON_IOU``)
are merged into the older one.
"""

from __future__ import annotations

import numpy as np

MASK_GROW = 0.1  # a found person's box grows by this share of its side before it is painted over
CROP_GROW = 0.5  # a track's crop: its last box grown by this share of its side on every side
MIN_IOU = 0.2  # box overlap that continues a track from one frame to the next
SAME_PERSON_IOU = 0.5  # box overlap at which two detections are one person
RESCAN_EVERY = 8  # frames between searches for people who entered the video
PATIENCE = 30  # frames a lost track keeps its identity for people found near its last box
MIN_VISIBILITY = 0.3  # landmarks at least this visible span a person's box
MIN_BODY_VISIBILITY = 0.6  # a newly found person's mean visibility of the 18 body landmarks (shoulders to feet)
BODY = slice(11, 29)  # BlazePose landmarks 11-28: shoulders, elbows, wrists, hands, hips, knees, ankles, feet


def landmark_box(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """(33, 3) [x px, y px, visibility] -> (4,) [x0, y0, x1, y1] of the visible landmarks, inside the image."""
    seen = landmarks[landmarks[:, 2] >= MIN_VISIBILITY, :2]
    points = seen if len(seen) >= 4 else landmarks[:, :2]
    low, high = points.min(0), points.max(0)
    return np.array([max(low[0], 0), max(low[1], 0), min(high[0], width), min(high[1], height)], np.float64)


def grown(box: np.ndarray, share: float, width: int, height: int) -> np.ndarray:
    """The box grown by ``share`` of its longer side on every side, clipped to the image, whole pixels."""
    pad = share * max(box[2] - box[0], box[3] - box[1], 1.0)
    return np.array(
        [
            max(0, np.floor(box[0] - pad)),
            max(0, np.floor(box[1] - pad)),
            min(width, np.ceil(box[2] + pad)),
            min(height, np.ceil(box[3] + pad)),
        ],
        np.int64,
    )


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two [x0, y0, x1, y1] boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def paint_over(image: np.ndarray, boxes) -> np.ndarray:
    """A copy of the image with each box (grown by MASK_GROW) filled with the image's mean colour."""
    out = image.copy()
    colour = image.reshape(-1, 3).mean(0).astype(np.uint8)
    h, w = image.shape[:2]
    for box in boxes:
        x0, y0, x1, y1 = grown(box, MASK_GROW, w, h)
        out[y0:y1, x0:x1] = colour
    return out


def find_people(detector, image: np.ndarray, max_people: int, known=()) -> list[np.ndarray]:
    """Everyone BlazePose finds in the image besides the ``known`` boxes, one by one -> (33, 3) landmarks
    each, left to right."""
    h, w = image.shape[:2]
    boxes, found = [np.asarray(b, np.float64) for b in known], []
    work = paint_over(image, boxes) if boxes else image
    while len(found) < max_people:
        landmarks = detector.detect(np.ascontiguousarray(work))
        if landmarks is None or landmarks[BODY, 2].mean() < MIN_BODY_VISIBILITY:
            break  # nobody, or a person guessed from a painted-over frame (trees, flares): not a new track
        box = landmark_box(landmarks, w, h)
        if box[2] <= box[0] or box[3] <= box[1] or any(iou(box, b) >= SAME_PERSON_IOU for b in boxes):
            break  # painting over did not hide them: the same person again
        boxes.append(box)
        found.append(landmarks)
        work = paint_over(work, [box])
    return sorted(found, key=lambda lm: float(np.mean(landmark_box(lm, w, h)[[0, 2]])))


def detect_in_crop(detector, image: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """BlazePose on the crop around a box -> (33, 3) landmarks in image pixels, or None."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = grown(box, CROP_GROW, w, h)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    landmarks = detector.detect(np.ascontiguousarray(image[y0:y1, x0:x1]))
    if landmarks is None:
        return None
    return landmarks + np.array([x0, y0, 0], np.float32)


class PeopleTracker:
    """Identities over the frames of a video (the module docstring); ``step(frame)`` -> {id: (33, 3)}."""

    def __init__(self, detector, max_people: int):
        self.detector, self.max_people = detector, max_people
        self.boxes: dict[int, np.ndarray] = {}  # id -> last box
        self.last_seen: dict[int, int] = {}  # id -> frame index
        self.frame, self.next_id = 0, 0

    def step(self, image: np.ndarray) -> dict[int, np.ndarray]:
        h, w = image.shape[:2]
        found: dict[int, np.ndarray] = {}
        for pid, box in sorted(self.boxes.items()):
            if self.last_seen[pid] != self.frame - 1:
                continue  # lost: only a search can bring it back
            landmarks = detect_in_crop(self.detector, image, box)
            if landmarks is not None and iou(landmark_box(landmarks, w, h), box) >= MIN_IOU:
                found[pid] = landmarks
        found = self._merge_duplicates(found, w, h)
        missed = [pid for pid in self.boxes if pid not in found and self.frame - self.last_seen[pid] <= PATIENCE]
        if self.frame % RESCAN_EVERY == 0 or missed:
            known = [landmark_box(lm, w, h) for lm in found.values()]
            for landmarks in find_people(self.detector, image, self.max_people - len(found), known):
                found[self._identity(landmark_box(landmarks, w, h), found)] = landmarks
        for pid, landmarks in found.items():
            self.boxes[pid], self.last_seen[pid] = landmark_box(landmarks, w, h), self.frame
        self.frame += 1
        return dict(sorted(found.items()))

    def _merge_duplicates(self, found: dict, w: int, h: int) -> dict:
        kept: dict[int, np.ndarray] = {}
        for pid in sorted(found):  # older ids first
            box = landmark_box(found[pid], w, h)
            if all(iou(box, landmark_box(other, w, h)) < SAME_PERSON_IOU for other in kept.values()):
                kept[pid] = found[pid]
        return kept

    def _identity(self, box: np.ndarray, taken: dict) -> int:
        """A lost track's id when the new person stands where it was last seen, else the next free id."""
        lost = [pid for pid in self.boxes if pid not in taken and self.frame - self.last_seen[pid] <= PATIENCE]
        best = max(lost, key=lambda pid: iou(box, self.boxes[pid]), default=None)
        if best is not None and iou(box, self.boxes[best]) >= MIN_IOU:
            return best
        self.next_id += 1
        return self.next_id - 1
