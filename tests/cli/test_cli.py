import json
from pathlib import Path

from hipart.config import Config
from pipelines.core.config_io import dump_toml, load_config

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = [
    "coarsen",
    "synth",
    "render",
    "train-msst",
    "train-hiarm",
    "train-lift",
    "evaluate",
    "occlude",
    "predict",
    "export",
    "bench",
    "demo",
    "info",
]


def test_help_lists_every_command(cli):
    code, out, _ = cli("--help")
    assert code == 0
    for command in COMMANDS:
        assert command in out


def test_every_command_has_help(cli):
    for command in COMMANDS:
        code, out, _ = cli(command, "--help")
        assert code == 0 and "Usage" in out, command


def test_unknown_set_key_exits_2_naming_it(cli):
    code, out, err = cli("train-msst", "--set", "msst.no_such_key=3")
    assert code == 2 and "no_such_key" in err and "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1 or "no_such_key" in err.splitlines()[0]


def test_paper_preset_equals_defaults_and_round_trips(tmp_path):
    assert load_config(ROOT / "configs/paper.toml") == Config()
    tiny = load_config(ROOT / "configs/tiny.toml")
    (tmp_path / "t.toml").write_text(dump_toml(tiny))
    assert load_config(tmp_path / "t.toml") == tiny
    changed = load_config(None, ["msst.enc_dim=32", "lifter.levels=[17, 48]", "train_msst.lr=1"])
    assert changed.msst.enc_dim == 32 and changed.lifter.levels == (17, 48) and changed.train_msst.lr == 1.0


def test_set_with_wrong_type_is_a_user_error(cli):
    code, _, err = cli("bench", "--set", "msst.enc_dim=wide")
    assert code == 2 and "msst.enc_dim" in err


def test_info_on_store(cli, synthetic_store):
    code, out, _ = cli("info", synthetic_store, "--json")
    summary = json.loads(out)
    assert code == 0 and summary["kind"] == "pose store" and summary["splits"]["train"]["rows"] == 2048


def test_info_on_missing_file(cli, tmp_path):
    code, _, err = cli("info", tmp_path / "none.h5")
    assert code == 2 and "none.h5" in err


def test_levels_study_refuses_bad_budgets_seeds_and_shards_in_one_line(cli, tmp_path):
    for args, word in (
        (["--budgets", "lots"], "--budgets"),
        (["--budgets", "0"], "positive"),
        (["--seeds", "0,0"], "repeated"),
        (["--shard", "3/2"], "--shard"),
    ):
        code, _, err = cli("ablation", "levels", "--out", tmp_path / "out", "--report", tmp_path / "r.md", *args)
        assert code == 2 and word in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not any(tmp_path.iterdir())
