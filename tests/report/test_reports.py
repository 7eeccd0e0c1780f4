"""The markdown tables of the reproduce targets: our figures beside the paper's, relative gains."""

from __future__ import annotations

import json

import pytest

from pipelines.recipes.ablation import ABLATIONS, ablation_table, markdown
from pipelines.report import advocc as advocc_report


def _model(name, mpjpe, levels=(17,), dense=None):
    return {
        "name": name,
        "levels": list(levels),
        "mpjpe": {"average": mpjpe},
        "pa_mpjpe": {"average": mpjpe / 2},
        "mpjpe_overall": mpjpe,
        "err2d_px": {"dense": dense, "fine": dense} if dense else None,
    }


def test_stage1_table_gives_changes_against_the_full_model_beside_the_papers():
    models = [_model("sparse", 120.0)] + [
        _model(f"v{k}", m, (17, 48, 96), 30.0 + k) for k, m in enumerate((100.0, 110.0, 105.0, 101.0))
    ]
    table = ablation_table("stage1", [models], None)
    rows = {row[0]: row for row in table["rows"]}
    shared = rows["one shared codebook"]
    assert shared[1:6] == ["110.0", "55.0", "+10.0 %", "31.0", "31.0"]
    assert shared[6:] == ["45.3", f"{100 * (45.3 - 42.0) / 42.0:+.1f} %", "81.5"]
    assert rows["full (separate codebooks, LA, GA)"][3] == "reference"
    sparse = table["rows"][0]
    assert sparse[3] == "+20.0 %" and sparse[4] == "-" and sparse[7] == f"{100 * (52.1 - 42.0) / 42.0:+.1f} %"
    assert len(table["columns"]) == len(sparse)


def test_stage2_table_adds_parameters_and_speed_relative_to_classification():
    models = [_model("sparse", 120.0)] + [_model(f"v{k}", 100.0 + k, (17, 48, 96), 30.0) for k in range(5)]
    speed = [(1.0, 400.0), (1.2, 100.0), (1.2, 100.0), (1.2, 300.0), (1.2, 300.0)]
    table = ablation_table("stage2", [models], speed)
    both, classification = table["rows"][-1], table["rows"][1]
    assert both[0] == "ARM both (default)" and both[3] == "reference"
    assert classification[3] == f"{100 * (100.0 - 104.0) / 104.0:+.1f} %"
    assert both[-6:] == ["1.20", "300", "0.75x", "2.4", "396", f"{396 / 432:.2f}x"]
    text = markdown(
        {
            "ablation": "stage2",
            "config": "configs/tiny.toml",
            "sets": [],
            "input": "detections",
            "speed_batch": 1024,
            **table,
        }
    )
    assert text.count("\n|") == len(table["rows"]) + 2 and "| ARM both (default) | 104.0 |" in text
    assert [v.label for v in ABLATIONS["stage2"]] == [row[0] for row in table["rows"][1:]]


def test_ablation_over_seeds_reports_mean_std_and_calls_a_difference_only_beyond_two_std():
    def seed(offset, shared_gap):
        return [_model("sparse", 120.0 + offset)] + [
            _model(f"v{k}", m + offset, (17, 48, 96), 30.0)
            for k, m in enumerate((100.0, 100.0 + shared_gap, 100.0 + offset, 101.0))
        ]

    per_seed = [seed(0.0, 10.0), seed(2.0, 11.0), seed(-2.0, 9.0)]
    table = ablation_table("stage1", per_seed, None)
    rows = {row[0]: row for row in table["rows"]}
    assert rows["full (separate codebooks, LA, GA)"][1] == "100.0 +- 2.0"
    assert rows["one shared codebook"][3] == "+10.0 % (+10.0 +- 1.0 mm, beyond 2 std)"
    no_la = rows["no Local Alignment"][3]  # the seeds disagree in sign: not a difference
    assert no_la.startswith("+0.0 %") and "beyond" not in no_la
    assert rows["no Global Alignment"][3] == "+1.0 % (+1.0 +- 0.0 mm, beyond 2 std)"
    text = markdown(
        {
            "ablation": "stage1",
            "config": "configs/tiny.toml",
            "sets": [],
            "seeds": [0, 1, 2],
            "input": "detections",
            "speed_batch": 1024,
            **table,
        }
    )
    assert "--seeds 0,1,2" in text and "mean +- std over 3 seeds" in text


def _write(path, data):
    path.mkdir(parents=True)
    (path / "results.json").write_text(json.dumps(data))
    return path


def test_advocc_report_puts_both_sizes_levels_and_the_paper_rows_in_one_table(tmp_path):
    def model(name, clean, worst, pelvis=50.0):
        per_joint = {"clean_mm": [clean] * 17, "worst_mm": [worst] * 17, "hidden_at_worst_pct": [pelvis] * 17}
        return {
            "name": name,
            "clean_mpjpe": clean,
            "advocc_mpjpe": worst,
            "degradation_mpjpe_pct": 100 * (worst / clean - 1),
            "clean_pa_mpjpe": clean / 2,
            "advocc_pa_mpjpe": worst / 2,
            "pelvis_hidden_at_worst_pct": pelvis,
            "err2d_hidden_px": 40.0,
            "err2d_visible_px": 5.0,
            "per_joint": per_joint,
        }

    def run(name, size, hipart_worst, image=False):
        data = {
            "positions": 256,
            "samples": 8,
            "size": size,
            "occlusion_model": "detector",
            "input": "blazepose",
            "input_err2d": {"hidden_px": 30.0, "visible_px": 4.0},
            "image_level": {"detector_runs": 2056, "missed_pct": 1.5, "render_detect_seconds": 60.0} if image else None,
            "models": [model("lift-sparse", 100.0, 200.0), model("lift-hipart", 100.0, hipart_worst)],
        }
        return str(_write(tmp_path / name, data))

    out = tmp_path / "advocc.md"
    runs = [run("k40", 40, 150.0), run("k80", 80, 250.0), run("i40", 40, 160.0, True), run("i80", 80, 180.0, True)]
    assert advocc_report.main([str(out), *runs]) == 0
    text = out.read_text()
    assert "| lift-hipart | keypoint | 100.0 | 150.0 | +50 % | 75.0 | 250.0 | +150 % | 125.0 | +150 % |" in text
    assert "| lift-hipart | image | 100.0 | 160.0 | +60 % | 80.0 | 180.0 | +80 % | 90.0 | +80 % |" in text
    assert "| HiPART (paper, 3DPW) | paper | 77.2 | 124.6 | +61 % | - | 143.2 | +85 % | - | - |" in text
    assert "| VideoPose3D (paper, 3DPW) | paper | 101.8 | - | - | - | 334.3 | +228 % | - | - |" in text
    assert "| keypoint | 80 | lift-hipart | 50.0 | 40.0 | 5.0 | 30.0 | 4.0 |" in text
    assert "keypoint @80: lift-hipart +150 % vs lift-sparse +100 %: **not smaller**" in text
    assert "image @80: lift-hipart +80 % vs lift-sparse +100 %: smaller" in text
    assert "2056 BlazePose runs" in text and text.count("### Per joint") == 2
    assert advocc_report.main([str(out), runs[0], runs[1]]) == 0 and "| image |" not in out.read_text()
    assert advocc_report.main([str(out), runs[0]]) == 2


def test_readme_blocks_are_replaced_by_the_generated_tables(tmp_path):
    from pipelines.report.readme import splice

    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "t.md").write_text("# Title\n\nMade by `make x`.\n\n| a |\n|---|\n| 1 |\n")
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- generated from runs/t.md -->\nstale\n<!-- end generated -->\nafter\n")
    assert splice(readme) == ["runs/t.md"]
    expected = (
        "intro\n<!-- generated from runs/t.md -->\nMade by `make x`.\n\n| a |\n|---|\n| 1 |\n"
        "<!-- end generated -->\nafter\n"
    )
    assert readme.read_text() == expected
    assert splice(readme) == ["runs/t.md"] and readme.read_text() == expected  # idempotent
    readme.write_text("<!-- generated from runs/none.md -->\n<!-- end generated -->\n")
    with pytest.raises(SystemExit, match="runs/none.md"):
        splice(readme)


def test_readme_splice_of_named_files_leaves_the_other_blocks(tmp_path):
    from pipelines.report.readme import splice

    (tmp_path / "new.md").write_text("# T\n\nfresh\n")
    readme = tmp_path / "README.md"
    readme.write_text(
        "<!-- generated from new.md -->\nold\n<!-- end generated -->\n"
        "<!-- generated from missing.md -->\nkept\n<!-- end generated -->\n"
    )
    assert splice(readme, ["new.md"]) == ["new.md"]
    assert readme.read_text() == (
        "<!-- generated from new.md -->\nfresh\n<!-- end generated -->\n"
        "<!-- generated from missing.md -->\nkept\n<!-- end generated -->\n"
    )
