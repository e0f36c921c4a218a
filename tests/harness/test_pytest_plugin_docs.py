"""docs/writing-scenarios.md shows tests/scenarios/test_example_from_docs.py verbatim, and every
`--im-*` option and fixture the plugin has is documented there."""

from __future__ import annotations

import re
from pathlib import Path

from harness._pytest_options import IM_OPTIONS

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "writing-scenarios.md"


def included_examples(text: str) -> dict[str, str]:
    """{path: code} for each `<!-- example: PATH -->` fenced block of the doc."""
    pattern = re.compile(r"<!-- example: (\S+) -->\n```python\n(.*?)```\n<!-- /example -->",
                         re.DOTALL)
    return {path: code for path, code in pattern.findall(text)}


def test_doc_includes_the_example_test_verbatim() -> None:
    examples = included_examples(DOC.read_text(encoding="utf-8"))
    assert list(examples) == ["tests/scenarios/test_example_from_docs.py"]
    for path, code in examples.items():
        assert code == (REPO / path).read_text(encoding="utf-8")


def test_doc_documents_every_option_and_its_ini_twin() -> None:
    text = DOC.read_text(encoding="utf-8")
    for option in IM_OPTIONS:
        assert f"`{option.flag}`" in text and f"`{option.name}`" in text
    for name in ("im_run", "im_cluster", "im_nemesis", "assert_valid", "report_path"):
        assert name in text
