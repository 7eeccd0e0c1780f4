"""The temporal (MixSTE-style) lifter: shapes, tokens shared with the efficient lifter, use of neighbouring frames."""

import pytest
import torch
from helpers.lift_helpers import level_flips
from helpers.synthetic import hierarchy

from hipart.config import LifterConfig
from hipart.joint_groups import joint_groups
from hipart.lifter import EfficientLifter, count_parameters, flops_per_pose
from hipart.lifters import build_lifter
from hipart.temporal_lifter import TemporalLifter

LEVELS = (17, 48, 96)


def temporal(levels=(17,), frames=5, **kw):
    cfg = LifterConfig(levels=levels, arch="temporal", frames=frames, dim=32, blocks=2, heads=4, dropout=0.0, **kw)
    groups = torch.from_numpy(joint_groups(levels, hierarchy() | level_flips())) if len(levels) > 1 else None
    torch.manual_seed(0)
    return build_lifter(cfg, groups).eval()


@pytest.mark.parametrize("levels", [(17,), LEVELS])
def test_shapes_and_root_relative_output_for_every_frame(levels):
    model = temporal(levels)
    assert isinstance(model, TemporalLifter) and isinstance(model, EfficientLifter)
    out = model(torch.randn(3, 5, sum(levels), 2))
    assert out.shape == (3, 5, 17, 3) and torch.all(out[:, :, 0] == 0)
    with pytest.raises(AssertionError):
        model(torch.randn(3, 4, sum(levels), 2))  # the window length is fixed by the position embedding
    with pytest.raises(AssertionError):
        model(torch.randn(3, sum(levels), 2))


def test_the_state_dict_carries_the_window_and_groups():
    model = temporal(LEVELS, frames=7)
    state = model.state_dict()
    assert state["frame_embed"].shape == (1, 7, 1, 32) and state["groups"].shape[0] == 17
    assert any(k.startswith("temporal_blocks.1.") for k in state) and any(k.startswith("blocks.1.") for k in state)
    rebuilt = build_lifter(model.cfg, state["groups"])
    rebuilt.load_state_dict(state)
    x = torch.randn(2, 7, 161, 2)
    torch.testing.assert_close(rebuilt.eval()(x), model(x))


def test_frames_are_embedded_per_frame_as_the_efficient_lifter_embeds_one():
    model = temporal(LEVELS)
    x = torch.randn(2, 5, 161, 2)
    per_frame = EfficientLifter.embed_tokens(model, x.flatten(0, 1))  # (10, 17, C)
    torch.testing.assert_close(model.input_tokens(x.flatten(0, 1)), per_frame)


def test_a_frame_prediction_depends_on_its_neighbours():
    model = temporal(LEVELS, frames=5)
    x = torch.randn(1, 5, 161, 2) * 0.3
    before = model(x)
    moved = x.clone()
    moved[:, 1] += 0.2  # frame t-1 of the centre frame t = 2
    after = model(moved)
    assert (after[:, 2] - before[:, 2]).abs().max() > 1e-4
    later = x.clone()
    later[:, 3] += 0.2  # and frame t+1: the window is not causal
    assert (model(later)[:, 2] - before[:, 2]).abs().max() > 1e-4


def test_scores_are_read_per_frame():
    model = temporal((17,), score_input=True)
    x = torch.randn(2, 5, 17, 2)
    scores = torch.ones(2, 5, 17)
    low = scores.clone()
    low[:, 4, 3] = 0.1
    assert (model(x, low) - model(x, scores)).abs().max() > 1e-5
    torch.testing.assert_close(model(x, scores), model(x))  # missing scores read as 1


def test_size_and_cost_grow_with_the_temporal_blocks():
    one = LifterConfig(levels=(17,), arch="efficient", dim=32, blocks=2, heads=4)
    video = LifterConfig(levels=(17,), arch="temporal", frames=27, dim=32, blocks=2, heads=4)
    assert count_parameters(build_lifter(video)) > 1.9 * count_parameters(build_lifter(one))
    assert flops_per_pose(video) > 2 * flops_per_pose(one)
    with pytest.raises(ValueError):
        build_lifter(LifterConfig(levels=(17,), arch="temporal", frames=0))
