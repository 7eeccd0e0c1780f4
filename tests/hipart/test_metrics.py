import numpy as np
import pytest
import torch

from hipart import metrics
from hipart.skeleton import H36M_FLIP_PERM


def random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def reference_pa_mpjpe(pred, gt):
    """Straightforward per-sample numpy transcription of the published definition."""
    out = []
    for Y, X in zip(pred.astype(np.float64), gt.astype(np.float64)):
        muX, muY = X.mean(0), Y.mean(0)
        X0, Y0 = X - muX, Y - muY
        nX, nY = np.sqrt((X0**2).sum()), np.sqrt((Y0**2).sum())
        X0, Y0 = X0 / nX, Y0 / nY
        U, s, Vt = np.linalg.svd(X0.T @ Y0)
        V = Vt.T
        R = V @ U.T
        if np.linalg.det(R) < 0:
            V[:, -1] *= -1
            s[-1] *= -1
            R = V @ U.T
        a = s.sum() * nX / nY
        t = muX - a * muY @ R
        aligned = a * Y @ R + t
        out.append(np.linalg.norm(aligned - X, axis=-1).mean())
    return np.array(out)


def reference_mpjpe(pred, gt):
    return np.array(
        [np.mean([np.linalg.norm((p[j] - p[0]) - (g[j] - g[0])) for j in range(len(p))]) for p, g in zip(pred, gt)]
    )


def test_pa_mpjpe_of_similarity_copy_is_zero():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(8, 17, 3)) * 300
    pred = np.stack([1.7 * g @ random_rotation(rng).T + rng.normal(size=3) * 1000 for g in gt])
    assert np.all(metrics.pa_mpjpe(pred, gt) < 1e-4)
    assert np.all(metrics.pa_mpjpe(torch.tensor(pred), torch.tensor(gt)).numpy() < 1e-4)
    assert np.all(metrics.mpjpe(pred, gt) > 1.0)  # not trivially zero without alignment


def test_pa_mpjpe_refuses_reflection():
    rng = np.random.default_rng(1)
    gt = rng.normal(size=(8, 17, 3)) * 300
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    err = metrics.pa_mpjpe(mirrored, gt)
    assert np.all(err > 1.0)
    np.testing.assert_allclose(err, reference_pa_mpjpe(mirrored, gt), rtol=1e-6)
    # without the fix the best similarity would include the reflection and reach 0
    X0 = gt - gt.mean(1, keepdims=True)
    Y0 = mirrored - mirrored.mean(1, keepdims=True)
    U, s, Vt = np.linalg.svd(np.swapaxes(X0, 1, 2) @ Y0)
    R = np.swapaxes(Vt, 1, 2) @ np.swapaxes(U, 1, 2)
    assert np.all(np.linalg.det(R) < 0)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_metrics_match_reference_on_random_batches(backend):
    rng = np.random.default_rng(2)
    gt = rng.normal(size=(64, 17, 3)) * 250
    pred = gt + rng.normal(size=gt.shape) * 40
    conv = (lambda a: a) if backend == "numpy" else torch.tensor
    got_pa = np.asarray(metrics.pa_mpjpe(conv(pred), conv(gt)))
    got_p1 = np.asarray(metrics.mpjpe(conv(pred), conv(gt)))
    np.testing.assert_allclose(got_pa, reference_pa_mpjpe(pred, gt), rtol=1e-6)
    np.testing.assert_allclose(got_p1, reference_mpjpe(pred, gt), rtol=1e-6)


def test_mean_error_2d_and_mask():
    gt = np.zeros((2, 3, 2))
    pred = np.array([[[3, 4], [0, 0], [6, 8]], [[0, 1], [0, 1], [0, 1]]], dtype=float)
    np.testing.assert_allclose(metrics.mean_error_2d(pred, gt), [5.0, 1.0])
    mask = np.array([[1, 0, 0], [1, 1, 0]], bool)
    np.testing.assert_allclose(metrics.mean_error_2d(pred, gt, mask), [5.0, 1.0])
    mask = np.array([[0, 1, 1], [1, 1, 1]], bool)
    np.testing.assert_allclose(metrics.mean_error_2d(pred, gt, mask), [5.0, 1.0])
    with pytest.raises(ValueError):
        metrics.mean_error_2d(pred, gt[:, :2])


def test_per_action_aggregation_by_hand():
    names = ["Walking 1", "Walking 2", "Walking", "Sitting 1", "SittingDown", "SittingDown 2", "Eating"]
    errors = [10.0, 20.0, 30.0, 40.0, 50.0, 70.0, 5.0]
    table = metrics.aggregate_by_action(errors, names, ["Walking", "Sitting", "SittingDown", "Eating", "Photo"])
    assert table["Walking"] == pytest.approx(20.0)  # frame-weighted over sub-actions
    assert table["Sitting"] == pytest.approx(40.0)  # "Sitting" does not swallow "SittingDown"
    assert table["SittingDown"] == pytest.approx(60.0)
    assert np.isnan(table["Photo"])
    assert table["average"] == pytest.approx((20 + 40 + 60 + 5) / 4)  # unweighted over actions


def test_flip_test_of_symmetric_model_equals_plain():
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.normal(size=(5, 17, 2)))

    def symmetric(p):  # lifts by appending a depth that is left/right symmetric
        z = (p**2).sum(-1, keepdim=True)
        return torch.cat([p, z], -1)

    out = metrics.flip_test(symmetric, x, H36M_FLIP_PERM, H36M_FLIP_PERM)
    torch.testing.assert_close(out, symmetric(x))
    flipped = metrics.flip_pose(x, H36M_FLIP_PERM)
    torch.testing.assert_close(metrics.flip_pose(flipped, H36M_FLIP_PERM), x)


def test_procrustes_fitted_on_the_scored_joints_ignores_the_others():
    """3DNBF's occlusion scoring: hidden joints neither enter the alignment nor the error."""
    import torch

    from hipart.metrics import pa_mpjpe

    torch.manual_seed(0)
    gt = torch.randn(4, 17, 3)
    pred = gt @ torch.linalg.qr(torch.randn(3, 3))[0] * 1.3 + 0.05 * torch.randn(4, 17, 3)
    visible = torch.ones(4, 17, dtype=torch.bool)
    visible[:, 10:] = False
    wild = pred.clone()
    wild[:, 10:] += 50.0  # hidden joints predicted anywhere
    fitted = pa_mpjpe(pred, gt, mask=visible, fit_on_mask=True)
    torch.testing.assert_close(pa_mpjpe(wild, gt, mask=visible, fit_on_mask=True), fitted)
    assert (pa_mpjpe(wild, gt, mask=visible) > 10 * fitted).all()  # aligned on all joints, the wild ones pull
    torch.testing.assert_close(
        pa_mpjpe(pred, gt, mask=torch.ones(4, 17, dtype=torch.bool), fit_on_mask=True), pa_mpjpe(pred, gt)
    )
