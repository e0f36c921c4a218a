"""Reports of imfault runs: the self-contained `report.html`, the rich terminal summary, and a
small HTTP server that browses a store of runs (DESIGN §4), and the store's static `index.html` and
Markdown summary for CI.
"""

from __future__ import annotations

from ._api import prepare_report, write_report
from ._campaign import campaign_page, write_campaign_page
from ._index import index_page, write_index
from ._markdown import markdown_summary
from ._runlist import RunRow, read_run, scan_store
from ._serve import find_runs, index_html, make_server, serve, serve_in_thread, server_url
from ._summary import print_summary
from ._verdict import overall_verdict

__all__ = [
    "RunRow",
    "campaign_page",
    "find_runs",
    "index_html",
    "index_page",
    "make_server",
    "markdown_summary",
    "overall_verdict",
    "prepare_report",
    "print_summary",
    "read_run",
    "scan_store",
    "serve",
    "serve_in_thread",
    "server_url",
    "write_campaign_page",
    "write_index",
    "write_report",
]
