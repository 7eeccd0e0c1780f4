"""MPJVE and the acceleration error: zero for perfect predictions, hand-computed values on a tiny sequence."""

import numpy as np
import torch

from hipart.metrics import accel_error, mpjve, sequence_errors


def test_perfect_predictions_score_zero():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(6, 17, 3))
    assert np.all(mpjve(gt, gt) == 0) and mpjve(gt, gt).shape == (5,)
    assert np.all(accel_error(gt, gt) == 0) and accel_error(gt, gt).shape == (4,)
    # a constant offset of the whole sequence moves no velocity or acceleration
    assert np.allclose(mpjve(gt + 5.0, gt), 0) and np.allclose(accel_error(gt + 5.0, gt), 0)


def test_hand_computed_values():
    gt = np.zeros((3, 2, 3))
    pred = np.zeros((3, 2, 3))
    pred[1, 1] = [3.0, 4.0, 0.0]  # one joint off by 5 mm at the middle frame only
    # velocity errors: +5 then -5 on one of two joints -> 2.5 mm/frame per step
    np.testing.assert_allclose(mpjve(pred, gt), [2.5, 2.5])
    # second difference of that joint: 0 - 2 * (3, 4, 0) + 0 = (-6, -8, 0) -> 10 mm, over two joints 5
    np.testing.assert_allclose(accel_error(pred, gt), [5.0])
    expected = torch.tensor([2.5, 2.5], dtype=torch.float64)
    torch.testing.assert_close(mpjve(torch.tensor(pred), torch.tensor(gt)), expected)  # torch in, torch out


def test_sequence_errors_never_difference_across_sequences():
    gt = np.zeros((5, 2, 3))
    pred = gt.copy()
    pred[3:] += 100.0  # a jump exactly where the second sequence starts
    seqs = [np.array([0, 1, 2]), np.array([3, 4])]
    assert np.all(sequence_errors(mpjve, pred, gt, seqs) == 0) and len(sequence_errors(mpjve, pred, gt, seqs)) == 3
    assert len(sequence_errors(accel_error, pred, gt, seqs)) == 1  # the 2-frame sequence has no acceleration
    assert len(sequence_errors(mpjve, pred, gt, [])) == 0
