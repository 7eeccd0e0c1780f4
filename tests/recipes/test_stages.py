"""The stage runner behind `hipart demo` / `hipart ablation`: reuse by config hash, links, --force."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from hipart.config import Config
from pipelines.recipes.stages import DONE, Stage, run_stages, stage_dir


def _stages(calls: list, config: Config, fail_second: bool = False):
    def first(out, dirs):
        calls.append("first")
        out.mkdir(parents=True, exist_ok=True)
        (out / "value.txt").write_text(str(config.msst.enc_dim))
        return {"value": config.msst.enc_dim}

    def second(out, dirs):
        calls.append("second")
        if fail_second:
            raise RuntimeError("boom")
        value = int((dirs["a"] / "value.txt").read_text())
        return {"double": 2 * value, "path": out}

    return [Stage("first", "a", ("msst",), (), first, config=config), Stage("second", "b", ("lifter",), ("a",), second)]


def test_finished_stages_are_reused_and_changes_redo_only_what_depends_on_them(tmp_path):
    config, calls = Config(), []
    dirs, summaries, log = run_stages(_stages(calls, config), config, tmp_path)
    assert calls == ["first", "second"]
    assert summaries["b"]["double"] == 2 * config.msst.enc_dim
    assert summaries["b"]["path"] == str(dirs["b"])  # summaries are made JSON-safe
    assert json.loads((dirs["b"] / DONE).read_text())["summary"] == summaries["b"]
    assert (tmp_path / "a").resolve() == dirs["a"].resolve() and (tmp_path / "b").is_symlink()

    calls.clear()
    again, summaries2, log2 = run_stages(_stages(calls, config), config, tmp_path)
    assert calls == [] and again == dirs and summaries2 == summaries
    assert [entry["reused"] for entry in log2] == [True, True]

    # a setting only the second stage depends on: the first is reused
    lifter_changed = replace(config, lifter=replace(config.lifter, dim=8))
    calls.clear()
    changed, _, _ = run_stages(_stages(calls, lifter_changed), lifter_changed, tmp_path)
    assert calls == ["second"] and changed["a"] == dirs["a"] and changed["b"] != dirs["b"]

    # a stage's own config (an ablation variant) decides its directory, and everything downstream follows
    variant = replace(config, msst=replace(config.msst, enc_dim=8))
    calls.clear()
    var_dirs, var_summaries, _ = run_stages(_stages(calls, variant), config, tmp_path, link=False)
    assert calls == ["first", "second"] and var_dirs["a"] != dirs["a"] and var_dirs["b"] != dirs["b"]
    assert var_summaries["b"]["double"] == 16
    assert (tmp_path / "a").resolve() == dirs["a"].resolve()  # link=False leaves the links alone


def test_force_redoes_everything_and_a_failed_stage_is_not_marked_done(tmp_path):
    config, calls = Config(), []
    with pytest.raises(RuntimeError):
        run_stages(_stages(calls, config, fail_second=True), config, tmp_path)
    first_dir = next(tmp_path.glob("a-*"))
    half = stage_dir(tmp_path, _stages(calls, config)[1], config, {"a": first_dir})
    half.mkdir()
    (half / "train_state.pt").write_text("interrupted")  # what a killed training stage leaves
    dirs, _, log = run_stages(_stages(calls, config), config, tmp_path)
    assert calls == ["first", "second", "second"]  # first reused, failed second redone
    assert dirs["b"] == half and not (half / "train_state.pt").exists()  # a half-written stage starts clean
    assert [entry["reused"] for entry in log] == [True, False]
    calls.clear()
    run_stages(_stages(calls, config), config, tmp_path, force=True)
    assert calls == ["first", "second"]


def test_a_changed_input_file_reruns_its_stage_and_everything_after(tmp_path):
    """A regenerated corpus (same config, new bytes) must not reuse the store built from the old one."""
    config, calls = Config(), []
    data = tmp_path / "corpus.npz"
    data.write_bytes(b"old corpus")
    make = lambda: [replace(s, inputs=(data,)) if s.key == "a" else s for s in _stages(calls, config)]
    dirs, _, _ = run_stages(make(), config, tmp_path / "out")
    calls.clear()
    same, _, _ = run_stages(make(), config, tmp_path / "out")
    assert calls == [] and same == dirs
    data.write_bytes(b"new corpus")
    new, _, _ = run_stages(make(), config, tmp_path / "out")
    assert calls == ["first", "second"] and new["a"] != dirs["a"] and new["b"] != dirs["b"]
