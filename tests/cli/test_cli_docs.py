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
