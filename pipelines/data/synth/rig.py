"""Bake per-subject Anny bodies into one hipart-rig NPZ v1 (docs/design.md section 3, "Body model").

Each subject's phenotype is baked into a template: Anny's rest mesh (the A-pose), moved so the root
joint is at the origin. Anny is used with its rest pose as the reference of the "local-ref" pose
parameterisation (`reference_bone_orientations = None`; the packaged default re-orients the bones to
a slightly different reference pose, and skinning that pose again would not be one LBS). Then
Anny's local-ref deltas are exactly SMPL-style local rotations about world-aligned axes
(G_k = G_parent R_k, skinned from the rest template), which is what `motions.npz` stores: our LBS
with Anny's full weights reproduces Anny's vertices to float precision.

The 104 Anny bones are reduced to the RIG_BONES that the motions animate: every other bone (toes,
fingers, eyes, twist bones, clavicles, pelvis bones) keeps an identity delta, so its transform equals
its nearest kept ancestor's and its skinning weights are folded into that ancestor without changing
the mesh. Each vertex then keeps its 4 largest weights, renormalised.
"""

from __future__ import annotations

import numpy as np

from pipelines.data.synth.regressor import build_sparse_regressor

# The animated bones, parents first. Anny label == rig label.
RIG_BONES = (
    "root",
    "spine05",
    "spine04",
    "spine03",
    "spine02",
    "spine01",
    "neck01",
    "neck02",
    "neck03",
    "head",
    "upperarm01.L",
    "lowerarm01.L",
    "upperarm01.R",
    "lowerarm01.R",
    "upperleg01.L",
    "lowerleg01.L",
    "foot.L",
    "upperleg01.R",
    "lowerleg01.R",
    "foot.R",
)
PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")
# Human3.6M's subjects: S1, S5, S7 are women, the others men.
SUBJECT_GENDER = {"S1": 0, "S5": 0, "S6": 1, "S7": 0, "S8": 1, "S9": 1, "S11": 1}
WEIGHTS_PER_VERTEX = 4


def sample_phenotypes(subjects: list[str], rng: np.random.Generator) -> dict[str, dict[str, float]]:
    """Distinct adult phenotypes in Anny's [0, 1] parameters (age 0.5 ~ a young adult)."""
    out = {}
    for name in subjects:
        male = SUBJECT_GENDER.get(name, int(rng.integers(2)))
        out[name] = {
            "gender": float(rng.uniform(0.8, 1.0) if male else rng.uniform(0.0, 0.2)),
            "age": float(rng.uniform(0.5, 0.75)),
            "muscle": float(rng.uniform(0.3, 0.7)),
            "weight": float(rng.uniform(0.3, 0.7)),
            "height": float(rng.uniform(0.3, 0.8)),
            "proportions": float(rng.uniform(0.35, 0.65)),
        }
    return out


def load_anny():
    """Anny's default model (rig "anny", topology "anny", local-ref about the rest pose), torch skinning."""
    import anny  # the optional extra; callers check it is installed

    model = anny.Anny(skinning_method="lbs")
    model.reference_bone_orientations = None  # local-ref deltas relative to the rest A-pose
    return model


def fold_map(bone_labels: list[str], bone_parents: list[int]) -> np.ndarray:
    """Anny bone index -> index in RIG_BONES of itself or its nearest kept ancestor."""
    rig_index = {label: i for i, label in enumerate(RIG_BONES)}
    out = np.empty(len(bone_labels), dtype=np.int64)
    for b, _label in enumerate(bone_labels):
        a = b
        while bone_labels[a] not in rig_index:
            a = bone_parents[a]
        out[b] = rig_index[bone_labels[a]]
    return out


def reduce_weights(indices: np.ndarray, weights: np.ndarray, fold: np.ndarray):
    """(V, 9) Anny weights -> (V, 4) rig bone indices and renormalised weights (largest first)."""
    V = indices.shape[0]
    dense = np.zeros((V, len(RIG_BONES)))
    np.add.at(dense, (np.repeat(np.arange(V), indices.shape[1]), fold[indices].ravel()), weights.ravel())
    order = np.argsort(-dense, axis=1, kind="stable")[:, :WEIGHTS_PER_VERTEX]
    top = np.take_along_axis(dense, order, axis=1)
    top /= top.sum(1, keepdims=True)
    order[top == 0] = 0  # unused slots point at the root with weight 0
    return order.astype(np.int32), top.astype(np.float32)


def bake_subjects(model, phenotypes: dict[str, dict[str, float]]):
    """Templates (S, V, 3), rig joints (S, K, 3) and mean Anny bone heads, metres, one batched forward."""
    import torch

    values = torch.tensor([[p[k] for k in PHENOTYPES] for p in phenotypes.values()], dtype=torch.float64)
    with torch.no_grad():
        out = model(phenotype_kwargs={k: values[:, i] for i, k in enumerate(PHENOTYPES)})
    labels = list(model.bone_labels)
    keep = [labels.index(b) for b in RIG_BONES]
    heads = out["bone_poses"][:, :, :3, 3].numpy()  # (S, 104, 3)
    return out["vertices"].numpy(), heads[:, keep], dict(zip(labels, heads.mean(0)))


def build_rig(model, subjects: list[str], rng: np.random.Generator) -> tuple[dict, dict]:
    """The hipart-rig v1 arrays (float32) and the phenotypes used."""
    phenotypes = sample_phenotypes(subjects, rng)
    templates, joints, mean_heads = bake_subjects(model, phenotypes)
    labels, parents = list(model.bone_labels), list(model.bone_parents)
    fold = fold_map(labels, parents)
    lbs_index, lbs_weight = reduce_weights(
        model.vertex_bone_indices.cpu().numpy(), model.vertex_bone_weights.cpu().numpy(), fold
    )
    rig_parents = np.array([-1] + [int(fold[parents[labels.index(b)]]) for b in RIG_BONES[1:]], np.int32)
    faces = model.faces.cpu().numpy().astype(np.int32)
    mean_template = templates.mean(0)
    rig = {
        "schema": np.array("hipart-rig"),
        "version": np.array(1, np.int32),
        "template": quantize(templates, 2.0**-16),
        "faces": faces,
        "lbs_index": lbs_index,
        "lbs_weight": lbs_weight,
        "parents": rig_parents,
        "joints_rest": quantize(joints, 2.0**-16),
        "sparse_regressor": build_sparse_regressor(mean_template, mean_heads),
        "subjects": np.array(subjects),
        "bone_names": np.array(RIG_BONES),
    }
    return rig, phenotypes


def quantize(values: np.ndarray, step: float) -> np.ndarray:
    """Round to a power-of-two step: harmless, exact in float32, and compresses far better."""
    return (np.round(np.asarray(values, np.float64) / step) * step).astype(np.float32)
