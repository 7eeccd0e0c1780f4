import json

import pytest

from pipelines.report import unseen


def _model(name, seen, clip):
    actions = {"Walking": seen, "Sitting": seen + 2, "backflip": clip, "cartwheel": clip + 4}
    return {
        "name": name,
        "mpjpe": {},
        "pa_mpjpe": {},
        "flip": {"mpjpe": actions, "pa_mpjpe": {k: v / 2 for k, v in actions.items()}},
    }


def test_seen_and_unseen_apart_and_seeds_grouped(tmp_path):
    results = {
        "input": "noise",
        "models": [_model("lift-a-s0", 90, 150), _model("lift-a-s1", 92, 160), _model("lift-b", 100, 140)],
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    out = tmp_path / "unseen.md"
    assert unseen.main([str(out), str(path), "--unseen", "backflip,cartwheel"]) == 0
    text = out.read_text()
    assert "| lift-a | 2 | 92.0 +- 1.4 | 157.0 +- 7.1 | 78.5 +- 3.5 | 155.0 +- 7.1 | 159.0 +- 7.1 |" in text
    assert "| lift-b | 1 | 101.0 | 142.0 | 71.0 | 140.0 | 144.0 |" in text


def test_an_unknown_clip_is_a_one_line_error(tmp_path, capsys):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"input": "noise", "models": [_model("m", 1, 2)]}))
    assert unseen.main([str(tmp_path / "o.md"), str(path), "--unseen", "moonwalk"]) == 2
    assert "moonwalk" in capsys.readouterr().err and not (tmp_path / "o.md").exists()


def test_scores_refuse_results_without_the_clip():
    with pytest.raises(ValueError, match="dance_b"):
        unseen.scores(_model("m", 1, 2), ("dance_b",))
