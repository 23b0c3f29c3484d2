"""Regenerate the column table of docs/records.md from `harness.contracts.Record`.

    python docs/generate_records.py            # rewrite the table in place
    python docs/generate_records.py --check    # exit 1 if the page is stale (what the docs test does)

The table sits between `<!-- record-columns -->` and `<!-- /record-columns -->`; everything else on
the page is hand-written.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's own harness, not an installed copy

from harness.contracts import Record  # noqa: E402

PAGE = ROOT / "docs" / "records.md"
BLOCK = re.compile(r"(<!-- record-columns -->)(.*?)(<!-- /record-columns -->)", re.S)


def table() -> str:
    """The generated table: one row per Record field, its type and its `doc`."""
    return Record.markdown().strip()


def current(text: str) -> str | None:
    """The table now on the page (None when the markers are missing)."""
    found = BLOCK.search(text)
    return found.group(2).strip() if found else None


def regenerate(text: str) -> str:
    """The page with its table replaced by the generated one."""
    if current(text) is None:
        raise SystemExit(f"{PAGE}: no <!-- record-columns --> ... <!-- /record-columns --> block")
    return BLOCK.sub(lambda m: m.group(1) + "\n" + table() + "\n" + m.group(3), text, count=1)


def main(argv: list[str]) -> int:
    text = PAGE.read_text(encoding="utf-8")
    if "--check" in argv:
        stale = current(text) != table()
        if stale:
            print(f"{PAGE.relative_to(ROOT)} is stale: run `python docs/generate_records.py`")
        return int(stale)
    PAGE.write_text(regenerate(text), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
