"""What the pytest plugin hands to CI: JUnit properties of each run, the failure text in the
longrepr (so `--junitxml` carries it), and at the session's end the store's `index.html` and a
Markdown summary of the session's runs (`--im-summary-md FILE`, and `GITHUB_STEP_SUMMARY` when
set).

Properties (repeated once per run when a test runs imfault more than once): `imfault_verdict`
(valid, invalid, unknown; `error` when the run raised before a verdict), `imfault_run_dir`,
`imfault_report` (empty when none was written), `imfault_seed`, `imfault_reproduce` (the
`imfault run` command). Paths are relative to the directory pytest was started in when they lie
under it (the CI workspace), else absolute. Imports only the standard library and pytest at load.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ._pytest_run import _verdict_word

if TYPE_CHECKING:
    from reports import RunRow

    from ._pytest_run import ImResult
    from .runner import RunOptions

__all__ = ["add_failure_text", "finish_session", "record_raised", "record_result"]

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def display_path(path: Path | None, base: Path) -> str:
    """`path` relative to `base` when under it, else absolute; "" for None."""
    if path is None:
        return ""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(resolved)


def record_result(item: pytest.Item, result: ImResult) -> None:
    """Append one checked run's properties to the test's `user_properties` (the list
    pytest's `record_property` fixture appends to; `--junitxml` writes them)."""
    base = item.config.invocation_params.dir
    item.user_properties += [
        ("imfault_verdict", _verdict_word(result.verdict)),
        ("imfault_run_dir", display_path(result.run_dir, base)),
        ("imfault_report", display_path(result.report_path, base)),
        ("imfault_seed", str(result.options.seed)),
        ("imfault_reproduce", result.command),
    ]


def record_raised(item: pytest.Item, options: RunOptions) -> None:
    """The properties of a run that raised before its verdict (setup or usage error)."""
    item.user_properties += [("imfault_verdict", "error"),
                             ("imfault_seed", str(options.seed)),
                             ("imfault_reproduce", options.command())]


def add_failure_text(report: pytest.TestReport, text: str) -> None:
    """Put the imfault section into the failure's longrepr (shown on the terminal as
    `--- imfault ---` and written into JUnit's <failure> text); a plain-text longrepr gets it
    appended, and anything else a report section."""
    longrepr = report.longrepr
    addsection = getattr(longrepr, "addsection", None)
    if callable(addsection):  # an ExceptionRepr: sections print after the traceback
        addsection("imfault", text, "-")
    elif isinstance(longrepr, str):
        report.longrepr = f"{longrepr}\n\n{'-' * 30} imfault {'-' * 30}\n{text}"
    else:
        report.sections.append(("imfault", text))


def _rows(results: list[ImResult]) -> list[RunRow]:
    from reports import read_run

    return [read_run(result.run_dir, Path(result.options.store)) for result in results]


def finish_session(config: pytest.Config, results: list[ImResult],
                   summary_md: Path | None) -> None:
    """Refresh the index of every store the session's runs used; write the Markdown summary to
    `summary_md` (always, when given) and append it to `$GITHUB_STEP_SUMMARY` (when the session
    ran imfault). A failure is reported on the terminal; it never fails the session."""
    from ._cli_index import refresh_index

    step_summary = os.environ.get(STEP_SUMMARY_ENV, "")
    if not results and summary_md is None:
        return
    terminal = config.pluginmanager.get_plugin("terminalreporter")

    def say(message: str) -> None:
        if terminal is not None:
            terminal.write_line(f"imfault: {message}")

    for store in sorted({Path(result.options.store) for result in results}):
        refresh_index(store, say)
    try:
        from reports import markdown_summary
    except ImportError:
        return
    try:
        text = markdown_summary(_rows(results), "imfault runs of this pytest session",
                                base=config.invocation_params.dir)
        if summary_md is not None:
            summary_md.parent.mkdir(parents=True, exist_ok=True)
            summary_md.write_text(text, encoding="utf-8")
            say(f"summary: {summary_md}")
        if step_summary and results:
            with open(step_summary, "a", encoding="utf-8") as handle:
                handle.write(text + "\n")
    except Exception as exc:  # noqa: BLE001 - a summary must not fail the session
        say(f"summary not written: {type(exc).__name__}: {exc}")
