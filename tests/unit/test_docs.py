"""The README stays a front door, and every relative link of the README and docs/ leads somewhere.

Anchors are checked as GitHub makes them from headings: lower case, punctuation dropped but
hyphens and underscores, each space a hyphen, a repeated heading numbered `-1`, `-2`, ...
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
README_MAX_LINES = 250

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*([^)\s]+)\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _prose(text: str) -> str:
    """The text with code blocks removed (a link or `#` there is not one)."""
    return FENCE.sub("", text)


def anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown text."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(_prose(markdown)):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(path: Path) -> list[str]:
    """The link targets of a Markdown file that point inside the repository."""
    prose = INLINE_CODE.sub("", _prose(path.read_text()))
    return [
        target
        for target in LINK.findall(prose)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # https:, mailto:, ...
    ]


def test_the_readme_is_at_most_250_lines() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines: move the rest into docs/"


def test_there_are_docs_and_the_readme_links_every_one() -> None:
    linked = {target.split("#")[0] for target in relative_links(README)}
    assert DOCS
    assert {f"docs/{doc.name}" for doc in DOCS} <= linked


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(path: Path) -> None:
    broken = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
            broken.append(f"{target}: no heading makes #{anchor}")
    assert not broken, broken


def test_the_anchors_are_the_ones_github_makes() -> None:
    # Given headings with punctuation, code, a link and a repeat
    doc = "# A busy night: copy slots\n## What this app can't copy, and why\n## `make demo`\n"
    doc += "## See [the flow](x.md)\n## Notes\n## Notes\n```\n# not a heading\n```\n"
    # Then they give GitHub's anchors
    assert anchors(doc) == {
        "a-busy-night-copy-slots",
        "what-this-app-cant-copy-and-why",
        "make-demo",
        "see-the-flow",
        "notes",
        "notes-1",
    }
