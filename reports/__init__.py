"""Reports of imfault runs: the self-contained `report.html`, the rich terminal summary, and a
small HTTP server that browses a store of runs (DESIGN §4).
"""

from __future__ import annotations

from ._api import write_report
from ._serve import find_runs, index_html, make_server, serve, serve_in_thread, server_url
from ._summary import print_summary
from ._verdict import overall_verdict

__all__ = [
    "find_runs",
    "index_html",
    "make_server",
    "overall_verdict",
    "print_summary",
    "serve",
    "serve_in_thread",
    "server_url",
    "write_report",
]
