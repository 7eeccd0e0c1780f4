"""Splice generated result tables into the README (python -m pipelines.report.readme README.md).

A block between ``<!-- generated from PATH -->`` and ``<!-- end generated -->`` is replaced by the
markdown file PATH (relative to the README) without its top-level heading, so the README always
shows the tables the reproduce targets last wrote, each with the command that made it. A missing
file is an error naming the make target to run; the README is rewritten atomically. Files named
after the README refresh only their own blocks (e.g. after one reproduce target).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pipelines.core.atomic import write_text_atomic

BLOCK = re.compile(r"(<!-- generated from (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def _body(markdown: str) -> str:
    lines = markdown.strip("\n").splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(lines).strip("\n") + "\n"


def splice(readme: Path, only: list[str] | None = None) -> list[str]:
    """Refresh every generated block of ``readme`` (or those of the files ``only`` names); returns the files
    spliced in."""
    text, used, missing = readme.read_text(), [], []

    def replace(match: re.Match) -> str:
        if only is not None and match["path"] not in only:
            return match[0]
        source = readme.parent / match["path"]
        if not source.is_file():
            missing.append(match["path"])
            return match[0]
        used.append(match["path"])
        return match[1] + _body(source.read_text()) + match[4]

    text = BLOCK.sub(replace, text)
    if missing:
        raise SystemExit(f"{readme}: missing generated tables {', '.join(missing)} (run `make readme-results`)")
    write_text_atomic(readme, text)
    return used


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m pipelines.report.readme README.md [GENERATED_FILE ...]")
    for path in splice(Path(sys.argv[1]), sys.argv[2:] or None):
        print(f"spliced {path}")
