"""The level-efficient lifter: its joint groups, shapes, cost, flip behaviour and use of the levels."""

import numpy as np
import pytest
import torch
from helpers.lift_helpers import level_flips
from helpers.synthetic import hierarchy

from hipart.config import LifterConfig
from hipart.joint_groups import PAD, joint_groups
from hipart.lifter import EfficientLifter, Lifter, flops_per_pose
from hipart.lifters import build_lifter
from hipart.metrics import flip_pose
from hipart.skeleton import H36M_FLIP_PERM
from pipelines.models.lifting import input_flip_perm

LEVELS = (17, 48, 96)
CFG = LifterConfig(levels=LEVELS, arch="efficient", dim=32, blocks=2, heads=4, dropout=0.0)


def lopsided_hierarchy() -> dict[str, np.ndarray]:
    """The test hierarchy with one dense joint moved to another bone while its mirror stays: not symmetric."""
    h = hierarchy() | level_flips()
    h["bone_of_dense"] = h["bone_of_dense"].copy()
    h["bone_of_dense"][3 * 12] = 9  # a left-arm point joins the neck bone; its mirror stays on the right arm
    return h


def perms(h) -> dict[int, list[int]]:
    return {17: list(H36M_FLIP_PERM), 48: [int(i) for i in h["dense_flip"]], 96: [int(i) for i in h["fine_flip"]]}


@pytest.mark.parametrize("make", [lambda: hierarchy() | level_flips(), lopsided_hierarchy])
def test_groups_cover_every_point_and_commute_with_flipping(make):
    h = make()
    groups = joint_groups(LEVELS, h)
    in_perm = np.array(input_flip_perm(LEVELS, perms(h)))
    members = [set(g[g != PAD].tolist()) for g in groups]
    assert set().union(*members) == set(range(17, 161))  # every dense and fine point feeds some token
    assert not members[0]  # the root has no bone of its own
    for token, mirror in enumerate(H36M_FLIP_PERM):
        assert {int(in_perm[p]) for p in members[token]} == members[mirror]
        if mirror != token:  # left/right partners list mirror points slot by slot
            assert np.array_equal(np.where(groups[token] == PAD, PAD, in_perm[groups[token]]), groups[mirror])
    if make is lopsided_hierarchy:  # the moved point feeds its new token (bone 9 ends at joint 10, the head)
        assert 17 + 36 in members[10]


def test_part_offsets_of_a_mirrored_pose_are_the_mirrored_offsets():
    h = lopsided_hierarchy()
    model = build_lifter(CFG, torch.from_numpy(joint_groups(LEVELS, h)))
    x = torch.randn(4, 161, 2)
    mirrored = flip_pose(x, input_flip_perm(LEVELS, perms(h)))
    a, b = model.part_offsets(x), model.part_offsets(mirrored)
    for token, mirror in enumerate(H36M_FLIP_PERM):
        if mirror != token:
            expected = a[:, token] * torch.tensor([-1.0, 1.0])
            torch.testing.assert_close(b[:, mirror], expected)


def test_shapes_cost_and_saved_groups():
    groups = torch.from_numpy(joint_groups(LEVELS, hierarchy() | level_flips()))
    model = build_lifter(CFG, groups)
    assert isinstance(model, EfficientLifter)
    out = model(torch.randn(3, 161, 2))
    assert out.shape == (3, 17, 3) and torch.all(out[:, 0] == 0)
    assert torch.equal(model.state_dict()["groups"], groups)  # the loader rebuilds the model from it
    vanilla = LifterConfig(levels=LEVELS, dim=32, blocks=2, heads=4)
    assert flops_per_pose(CFG, groups.shape[1]) * 5 < flops_per_pose(vanilla)
    assert model.joint_embed.shape[1] == 17 and Lifter(vanilla).joint_embed.shape[1] == 161
    with pytest.raises(AssertionError):
        model(torch.randn(3, 17, 2))
    with pytest.raises(ValueError):
        build_lifter(LifterConfig(arch="transformer"))


def test_the_level_inputs_change_the_output_and_only_through_the_groups():
    torch.manual_seed(0)
    model = build_lifter(CFG, torch.from_numpy(joint_groups(LEVELS, hierarchy() | level_flips()))).eval()
    x = torch.randn(8, 161, 2) * 0.3
    moved = x.clone()
    moved[:, 17:] += 0.05 * torch.randn(8, 144, 2)  # the sparse joints stay put
    assert (model(moved) - model(x)).abs().max() > 1e-4
    with torch.no_grad():
        model.group_embed.zero_()
    torch.testing.assert_close(model(moved), model(x))  # without the group embedding the levels are unseen
