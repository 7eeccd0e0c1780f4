"""The calibrated detector-like keypoint model of AdvOcc (``occlusion.model = "detector"``, the default).

A top-down detector still outputs a joint hidden by the patch: it infers it from the rest of the
body, so its error follows the body, not the patch boundary, and is the same wherever the patch
sits as long as the joint is covered (docs/protocols.md section 4). The model therefore draws ONE
outcome per (sample, joint), independent of the patch position, from ``default_rng([seed, 4, row,
stream])``:

* a base: the joint's own clean 2D; with probability ``swap`` its left/right partner's (joints
  with a partner only); with probability ``snap`` an adjacent skeleton joint's (parent or child,
  uniformly);
* an offset from the base, a radial bivariate Student-t with scale ``scale`` x the person's size
  and ``dof`` degrees of freedom (heavy tails: a few hidden joints land far away), its radius capped
  at ``max_offset`` person sizes (a top-down detector answers inside its crop: the cap is the
  largest offset the real detector showed);
* a score from Beta(``score_a``, ``score_b``) (low: a hidden joint's visibility).

At a position that hides the joint (its GT 2D strictly inside the patch) the detector reports base +
offset; visible joints keep the clean 2D and score. As in BlazePose's H36M mapping
(pipelines/data/detector.py) the pelvis is the mid-hips, the thorax the mid-shoulders and the spine
their midpoint: these joints move by the mean displacement of their sources and take the lowest
source score, so a pelvis covered while both hips are seen stays where it was.

The person's size is the long side of the GT 2D box (the AdvOcc crop is 1.2 x it), so parameters
carry over across image resolutions. The parameters come from fitting the model to BlazePose on
occluded renders (``python -m pipelines.evaluate.detector_fit``), one set per patch size (a larger
patch hides more of the body, so the detector guesses worse) and one pooled set for other sizes;
they live in ``configs/advocc_detector.json`` (``occlusion.detector_fit`` names another file).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import gammaln

from hipart.skeleton import H36M_FLIP_PAIRS, H36M_PARENTS, NUM_SPARSE
from pipelines.core.errors import UserError
from pipelines.core.paths import CONFIG_DIR

DEFAULT_FIT = CONFIG_DIR / "advocc_detector.json"
DERIVED = ((0, (1, 4)), (8, (11, 14)), (7, (0, 8)))  # pelvis, thorax, then spine from the new pelvis/thorax
DERIVED_JOINTS = tuple(j for j, _ in DERIVED)
PRIMARY = tuple(j for j in range(NUM_SPARSE) if j not in DERIVED_JOINTS)  # joints with their own outcome
OWN, SWAP, SNAP = 0, 1, 2
DOF_RANGE = (0.5, 200.0)


def _partners() -> tuple[int, ...]:
    partner = [-1] * NUM_SPARSE
    for a, b in H36M_FLIP_PAIRS:
        partner[a], partner[b] = b, a
    return tuple(partner)


PARTNER = _partners()
NEIGHBOURS = tuple(
    tuple(sorted({p for p in (H36M_PARENTS[j],) if p >= 0} | {c for c, p in enumerate(H36M_PARENTS) if p == j}))
    for j in range(NUM_SPARSE)
)


@dataclasses.dataclass(frozen=True)
class DetectorParams:
    scale: float = 0.08  # offset scale, fraction of the person's size
    dof: float = 3.0  # Student-t degrees of freedom of the radial offset
    swap: float = 0.05  # P(left/right exchange) for joints with a partner
    snap: float = 0.05  # P(landing on an adjacent joint)
    score_a: float = 2.0  # Beta(score_a, score_b) of a hidden joint's score
    score_b: float = 5.0
    max_offset: float = 1.0  # cap of the offset radius, person sizes

    def check(self, where: str) -> DetectorParams:
        ok = (
            self.scale > 0
            and self.dof > 0
            and self.score_a > 0
            and self.score_b > 0
            and self.max_offset > 0
            and 0 <= self.swap
            and 0 <= self.snap
            and self.swap + self.snap <= 1
        )
        if not ok or not np.isfinite(dataclasses.astuple(self)).all():
            raise UserError(
                f"{where}: field 'params' has invalid values {dataclasses.asdict(self)} (expected "
                "scale, dof, score_a, score_b > 0 and swap, snap >= 0 with swap + snap <= 1)"
            )
        return self


@dataclasses.dataclass(frozen=True)
class DetectorDraws:
    """One outcome per (sample, joint): base joint (N, J) int, offset (N, J, 2) px, score (N, J)."""

    base: np.ndarray
    offset: np.ndarray
    score: np.ndarray


def load_params(path: str | Path | None = None, size: int | None = None) -> DetectorParams:
    """The fitted parameters of a calibration JSON (default ``configs/advocc_detector.json``): those of
    patch ``size`` when the file has them (``params_by_size``), else the pooled ``params``."""
    path = Path(path) if path else DEFAULT_FIT
    try:
        data = json.loads(path.read_text())
        chosen = data.get("params_by_size", {}).get(str(size), data["params"])
        params = DetectorParams(**{k: float(v) for k, v in chosen.items()})
    except FileNotFoundError:
        raise UserError(f"{path}: detector model calibration not found (occlusion.detector_fit)") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        raise UserError(
            f"{path}: field 'params' is missing or malformed (expected {{scale, dof, swap, snap, "
            "score_a, score_b}}; refit with python -m pipelines.evaluate.detector_fit)"
        ) from None
    return params.check(str(path))


def person_size(gt2d: np.ndarray) -> np.ndarray:
    """(N, J, 2) GT 2D px -> (N,) the long side of the bounding box (px), at least 1."""
    return np.maximum((gt2d.max(1) - gt2d.min(1)).max(-1), 1.0)


def _kinds(u: np.ndarray, params: DetectorParams) -> np.ndarray:
    has_partner = np.asarray(PARTNER) >= 0  # (J,)
    kind = np.full(u.shape, OWN)
    kind[(u < params.swap) & has_partner] = SWAP
    kind[(u >= params.swap) & (u < params.swap + params.snap)] = SNAP
    return kind


def draw(params: DetectorParams, seed: int, rows: np.ndarray, sizes: np.ndarray) -> DetectorDraws:
    """Per-(sample, joint) outcomes for store ``rows`` (N,) of persons of ``sizes`` (N,) px.

    Each random quantity has its own stream, so changing one parameter leaves the others' draws alone.
    """
    n, j = len(rows), NUM_SPARSE
    base, offset, score = np.zeros((n, j), np.int64), np.zeros((n, j, 2)), np.zeros((n, j))
    for i, row in enumerate(np.asarray(rows, np.int64)):
        streams = [np.random.default_rng([seed, 4, int(row), s]) for s in range(5)]
        kind = _kinds(streams[0].random(j), params)
        pick = streams[1].random(j)
        normal = streams[2].standard_normal((j, 2))
        chi2 = streams[3].chisquare(params.dof, j)
        score[i] = streams[4].beta(params.score_a, params.score_b, j)
        neighbour = [NEIGHBOURS[k][int(pick[k] * len(NEIGHBOURS[k]))] for k in range(j)]
        base[i] = np.where(kind == SWAP, PARTNER, np.where(kind == SNAP, neighbour, np.arange(j)))
        spread = params.scale * np.sqrt(params.dof / np.maximum(chi2, 1e-12))  # (J,) the t's normal-scale mixture
        radius = spread * np.linalg.norm(normal, axis=1)  # (J,) person sizes
        spread *= np.minimum(1.0, params.max_offset / np.maximum(radius, 1e-12))
        offset[i] = normal * (spread * sizes[i])[:, None]
    return DetectorDraws(base, offset, score)


def apply(clean2d: np.ndarray, occluded: np.ndarray, draws: DetectorDraws, clean_score: np.ndarray | None = None):
    """Clean 2D (N, J, 2), occluded (N, P, J) bool -> detector 2D (N, P, J, 2) float64 and score (N, P, J)."""
    n, _, j = occluded.shape
    primary = np.zeros(j, bool)
    primary[list(PRIMARY)] = True
    hidden = occluded & primary  # (N, P, J)
    target = np.take_along_axis(clean2d, draws.base[..., None], 1) + draws.offset  # (N, J, 2)
    out = np.where(hidden[..., None], target[:, None], clean2d[:, None])
    base_score = np.ones((n, j)) if clean_score is None else np.asarray(clean_score, np.float64)
    score = np.where(hidden, draws.score[:, None], base_score[:, None])
    for joint, (a, b) in DERIVED:
        shift = (out[:, :, a] - clean2d[:, None, a] + out[:, :, b] - clean2d[:, None, b]) / 2  # (N, P, 2)
        out[:, :, joint] = clean2d[:, None, joint] + shift
        score[:, :, joint] = np.minimum(score[:, :, a], score[:, :, b])
    return out, score


# ---------------------------------------------------------------------------------------------- fit
def _log_t(r2: np.ndarray, scale: float, dof: float) -> np.ndarray:
    """Log density of the radial bivariate Student-t at squared radius r2 (units of the person size)."""
    return (
        gammaln((dof + 2) / 2)
        - gammaln(dof / 2)
        - np.log(dof * np.pi * scale**2)
        - (dof + 2) / 2 * np.log1p(r2 / (dof * scale**2))
    )


def candidates(observed: np.ndarray, clean: np.ndarray, joint: np.ndarray, size: np.ndarray):
    """Squared residuals (M, K) to every base an observation may come from, its kind (M, K) and a
    validity mask (M, K): K = own, partner, then up to 3 neighbours, in units of the person's size."""
    width = 2 + max(len(nb) for nb in NEIGHBOURS)
    base = np.zeros((len(joint), width), np.int64)
    kind = np.full((len(joint), width), OWN)
    valid = np.zeros((len(joint), width), bool)
    for j in np.unique(joint):
        rows = joint == j
        ids = [j, PARTNER[j], *NEIGHBOURS[j]]
        base[rows, : len(ids)] = np.maximum(ids, 0)
        kind[rows, 1], kind[rows, 2 : len(ids)] = SWAP, SNAP
        valid[rows, : len(ids)] = np.asarray(ids) >= 0
    points = np.take_along_axis(clean, base[..., None], 1)  # (M, K, 2)
    r2 = (((observed[:, None] - points) / size[:, None, None]) ** 2).sum(-1)
    return r2, kind, valid


def _log_weights(kind: np.ndarray, valid: np.ndarray, swap: float, snap: float) -> np.ndarray:
    has_partner = valid[:, 1:2]
    neighbours = np.maximum((kind == SNAP).sum(1, keepdims=True), 1)
    weight = np.where(kind == SWAP, swap, np.where(kind == SNAP, snap / neighbours, 1 - snap - swap * has_partner))
    return np.where(valid, np.log(np.maximum(weight, 1e-300)), -np.inf)


def _fit_dof(r2: np.ndarray, log_weights: np.ndarray, scale: float) -> float:
    """The degrees of freedom that maximise the observed log-likelihood at the other parameters."""

    def loss(dof: float) -> float:
        return -float(np.logaddexp.reduce(log_weights + _log_t(r2, scale, dof), 1).sum())

    return float(minimize_scalar(loss, bounds=DOF_RANGE, method="bounded").x)


def fit_offsets(r2: np.ndarray, kind: np.ndarray, valid: np.ndarray, iterations: int = 200) -> dict:
    """EM (ECME for the degrees of freedom) of the mixture of radial Student-t's around the candidate bases.

    -> {scale, dof, swap, snap, log_likelihood}. The mixing weights follow the generative rule of
    :func:`draw`: swap only where a partner exists, snap shared equally by the neighbours.
    """
    scale, dof, swap, snap = float(np.sqrt(np.median(r2[:, 0]) / 2) + 1e-6), 4.0, 0.05, 0.05
    has_partner = valid[:, 1]
    previous = -np.inf
    for _ in range(iterations):
        joint_log = _log_weights(kind, valid, swap, snap) + _log_t(r2, scale, dof)  # (M, K)
        total = np.logaddexp.reduce(joint_log, 1)
        resp = np.exp(joint_log - total[:, None])
        swap = float(resp[has_partner, 1].sum() / max(has_partner.sum(), 1))
        snap = float((resp * (kind == SNAP)).sum() / len(r2))
        u = (dof + 2) / (dof + r2 / scale**2)
        scale = float(np.sqrt((resp * u * r2).sum() / (2 * resp.sum())))
        dof = _fit_dof(r2, _log_weights(kind, valid, swap, snap), scale)
        if total.sum() - previous < 1e-7 * abs(total.sum()):
            break
        previous = total.sum()
    return {"scale": scale, "dof": dof, "swap": swap, "snap": snap, "log_likelihood": float(previous)}


def fit_score(score: np.ndarray) -> dict:
    """Beta(a, b) by the method of moments on hidden-joint scores in [0, 1]."""
    s = np.clip(np.asarray(score, np.float64), 1e-3, 1 - 1e-3)
    mean, var = s.mean(), max(s.var(), 1e-6)
    common = max(mean * (1 - mean) / var - 1, 1e-3)
    return {"score_a": float(mean * common), "score_b": float((1 - mean) * common)}
