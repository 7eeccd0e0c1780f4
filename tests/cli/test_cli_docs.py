"""docs/cli.md is the commands' own help: regenerate it with `python -m hipart_cli.docs` when it differs."""

from hipart_cli.docs import TARGET, cli_markdown


def test_the_cli_page_matches_the_help():
    assert TARGET.read_text() == cli_markdown(), "docs/cli.md is stale: run python -m hipart_cli.docs"


def test_every_command_and_visible_option_is_on_the_page():
    text = cli_markdown()
    for command in ("predict", "evaluate", "train-lift", "ablation", "bench", "export"):
        assert f"## hipart {command}\n" in text
    assert "`--max-people`" in text and "`--framing`" in text and "`--flip / --no-flip`" in text
    assert "--shard" not in text  # hidden options stay hidden


def test_old_option_spellings_still_work_hidden(cli, tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "kp.npz", keypoints=(np.array([500, 400]) + rng.normal(0, 60, (2, 17, 2))).astype(np.float32))
    code, _, err = cli("predict", "--input", tmp_path / "kp.npz", "--format", "h36m", "--out", tmp_path / "old.npz")
    assert code == 0, err
    code, _, err = cli("predict", "--keypoints", tmp_path / "kp.npz", "--format", "h36m", "--out", tmp_path / "new.npz")
    assert code == 0, err
    with np.load(tmp_path / "old.npz") as old, np.load(tmp_path / "new.npz") as new:
        np.testing.assert_array_equal(old["kp3d"], new["kp3d"])
    code, _, err = cli(
        "predict",
        "--keypoints",
        tmp_path / "kp.npz",
        "--input",
        tmp_path / "kp.npz",
        "--format",
        "h36m",
        "--out",
        tmp_path / "both.npz",
    )
    assert code == 2 and "give it once" in err and not (tmp_path / "both.npz").exists()
    assert "`--input`" not in cli_markdown().split("## hipart predict")[1].split("## hipart")[0]
