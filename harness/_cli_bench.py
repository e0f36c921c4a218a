"""`imfault bench convergence`: rounds, frames and bytes for one update to reach every DC, per
cluster size and gossip mode, beside the theory; a table, convergence.json/.csv and a plot.

The engine is `harness.bench._convergence` (real `HubCore`s under a virtual clock, the way the
sim backend runs them); see docs/convergence.md for the results and how they were made.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import secrets
import time
from pathlib import Path
from typing import Any

from .errors import UsageError

__all__ = ["FIELDS", "add_parser", "handle", "plot_html"]

FIELDS = ("dcs", "gossip", "fanout", "trials", "mean_rounds", "p50_rounds", "p99_rounds",
          "max_rounds", "theory_rounds", "frames_per_update", "bytes_per_update")
COLOURS = {"rumor-push": "#1e88e5", "rumor-pull": "#43a047", "rumor-push-pull": "#e53935",
           "push": "#8e24aa", "anti-entropy": "#fb8c00", "push+anti-entropy": "#6d4c41"}
SEED_ESTIMATE = (5, math.log2(5) + math.log(5), "seed: 5 DCs, log2 N + ln N = 3.9 rounds")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    from imcluster._config import GOSSIP_MODES

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bench", help="measurements of the reference cluster (convergence)",
        description="Benchmarks of the reference cluster.")
    sub = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    conv = sub.add_parser(
        "convergence", help="rounds for one update to reach every DC, per N and gossip mode",
        description="One update originated at a random DC per trial, on the sim backend's "
                    "in-process hubs: rounds until the last DC applied it (mean, p50, p99, max), "
                    "WAN frames and bytes per update, beside the theory.")
    a = conv.add_argument
    a("--backend", default="sim", choices=["sim", "local", "docker"],
      help="sim (in-process hubs, any N) or real processes behind Toxiproxy (local, docker; "
           "N <= 10)")
    a("--dcs", default="3,5,10,30,100,300,1000", help="cluster sizes, comma-separated")
    a("--gossip", default="rumor-push,rumor-pull,rumor-push-pull",
      help=f"modes, comma-separated, of {', '.join(GOSSIP_MODES)}")
    a("--fanout", default="1", help="peers called per rumor round, comma-separated (default 1)")
    a("--trials", type=int, default=None,
      help="updates per N and mode (default 200 on sim, 30 on local/docker)")
    a("--wan-latency", type=float, default=50.0, metavar="MS", help="one-way WAN ms (default 50)")
    a("--gossip-interval", type=float, default=200.0, metavar="MS",
      help="gossip round in ms (default 200)")
    a("--seed", type=int, default=None, help="seed (default: random, printed)")
    a("--jobs", type=int, default=1,
      help="sim: worker processes running a row's blocks of 50 trials (rows do not depend on it)")
    a("--no-cooldown", dest="cooldown", action="store_false",
      help="local/docker: start a trial as soon as the last converged, without waiting for its "
           "rumor to cool (faster; frames and bytes are then the run's total per update)")
    a("--out", type=Path, default=None, help="directory for convergence.json/.csv/.svg/.html")
    return parser


def _parse(args: argparse.Namespace) -> tuple[list[int], list[str], list[int]]:
    from imcluster._config import GOSSIP_MODES

    from .bench._real import MAX_REAL_DCS

    dcs, fanouts = _ints("--dcs", args.dcs), _ints("--fanout", args.fanout)
    modes = [m.strip() for m in str(args.gossip).split(",") if m.strip()]
    if not dcs or min(dcs) < 2:
        raise UsageError("--dcs needs sizes of at least 2 DCs")
    unknown = [m for m in modes if m not in GOSSIP_MODES]
    if not modes or unknown:
        raise UsageError(f"unknown --gossip {', '.join(unknown)}; use {', '.join(GOSSIP_MODES)}")
    if args.trials is None:
        args.trials = 200 if args.backend == "sim" else 30
    if not fanouts or min(fanouts) < 1 or args.trials < 1 or args.jobs < 1:
        raise UsageError("--fanout, --trials and --jobs must be at least 1")
    if args.backend != "sim" and max(dcs) > MAX_REAL_DCS:
        raise UsageError(f"--backend {args.backend} runs at most {MAX_REAL_DCS} DCs; "
                         "larger N on --backend sim")
    if args.gossip_interval <= 0 or args.wan_latency < 0:
        raise UsageError("--gossip-interval must be positive and --wan-latency >= 0")
    return dcs, modes, fanouts


def _ints(flag: str, text: object) -> list[int]:
    try:
        return [int(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"{flag} must be comma-separated integers, got {text!r}") from None


def handle(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from .bench._convergence import measure
    from .bench._real import measure_real

    dcs, modes, fanouts = _parse(args)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    console = Console(stderr=True)
    console.print(f"seed {seed}")
    rows = []
    for fanout in fanouts:
        for mode in modes:
            for n in dcs:
                started = time.monotonic()
                if args.backend == "sim":
                    row = measure(n, mode, fanout, args.trials, args.gossip_interval,
                                  args.wan_latency, seed, jobs=args.jobs)
                else:
                    row = measure_real(args.backend, n, mode, fanout, args.trials,
                                       args.gossip_interval, args.wan_latency, seed,
                                       cooldown=args.cooldown)
                rows.append(row)
                if args.out is not None:  # after each row: a long run stopped keeps its rows
                    write_outputs(args.out, [r.to_json() for r in rows], seed)
                console.print(f"{mode} K={fanout} N={n}: mean {row.mean_rounds:.2f} rounds "
                              f"({time.monotonic() - started:.1f} s wall, {row.cpu_s:.1f} s CPU)")
    table = Table(title=f"convergence of one update ({args.backend}, seed {seed}, "
                        f"{args.trials} trials, interval {args.gossip_interval:g} ms, "
                        f"WAN {args.wan_latency:g} ms)")
    for name in ("DCs", "gossip", "K", "mean", "p50", "p99", "max", "theory", "Δ theory",
                 "mean ms", "frames/upd", "bytes/upd", "lost", "wall s", "CPU s"):
        table.add_column(name, justify="left" if name == "gossip" else "right")
    for r in rows:
        delta = (f"{(r.mean_rounds / r.theory_rounds - 1) * 100:+.1f} %"
                 if r.theory_rounds else "")
        table.add_row(str(r.dcs), r.gossip, str(r.fanout), f"{r.mean_rounds:.2f}",
                      f"{r.p50_rounds:g}", f"{r.p99_rounds:g}", f"{r.max_rounds:g}",
                      f"{r.theory_rounds:.2f}" if r.theory_rounds is not None else "—", delta,
                      f"{r.mean_ms:.0f}", f"{r.frames_per_update:.1f}",
                      f"{r.bytes_per_update:.0f}", str(r.unconverged), f"{r.wall_s:.1f}",
                      f"{r.cpu_s:.1f}")
    Console(width=160).print(table)
    if args.out is not None:
        write_outputs(args.out, [r.to_json() for r in rows], seed)
        console.print(f"wrote {args.out}/convergence.json, .csv, .svg, .html")
    return 0


def write_outputs(out: Path, rows: list[dict[str, Any]], seed: int) -> None:
    """convergence.json (FIELDS first, then the extra columns), .csv, .svg and .html."""
    out.mkdir(parents=True, exist_ok=True)
    ordered = [{**{k: r[k] for k in FIELDS}, **{k: v for k, v in r.items() if k not in FIELDS}}
               for r in rows]
    (out / "convergence.json").write_text(json.dumps(ordered, indent=1) + "\n")
    with open(out / "convergence.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(ordered[0]) if ordered else list(FIELDS))
        writer.writeheader()
        writer.writerows(ordered)
    svg = plot_svg(ordered)
    (out / "convergence.svg").write_text(svg + "\n")
    (out / "convergence.html").write_text(plot_html(svg, ordered, seed))


def plot_svg(rows: list[dict[str, Any]]) -> str:
    """Measured mean rounds (solid, dots) and theory (dashed) over N on a log scale."""
    from reports._svg import log_x_chart

    series = []
    for mode, fanout in dict.fromkeys((r["gossip"], r["fanout"]) for r in rows):
        mine = sorted((r for r in rows if (r["gossip"], r["fanout"]) == (mode, fanout)),
                      key=lambda r: r["dcs"])
        colour = COLOURS.get(mode, "#546e7a")
        series.append((f"{mode} K={fanout}", colour,
                       [(r["dcs"], r["mean_rounds"]) for r in mine], False))
        theory = [(r["dcs"], r["theory_rounds"]) for r in mine if r["theory_rounds"] is not None]
        if theory:
            series.append((f"{mode} K={fanout} theory", colour, theory, True))
    return log_x_chart(series, "DCs (log scale)", "rounds to reach every DC (mean)",
                       "measured vs theory", marks=[SEED_ESTIMATE])


def plot_html(svg: str, rows: list[dict[str, Any]], seed: int) -> str:
    from reports._svg import esc

    head = "".join(f"<th>{esc(k)}</th>" for k in FIELDS)
    body = "".join("<tr>" + "".join(f"<td>{esc(_cell(r[k]))}</td>" for k in FIELDS) + "</tr>"
                   for r in rows)
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><title>imfault bench convergence"
            "</title><style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;"
            "text-align:right}</style></head><body><h1>Convergence of one update</h1>"
            f"<p>seed {seed}; solid: measured mean rounds, dashed: theory; diamond: the seed's "
            f"5-DC estimate.</p>{svg}<table><tr>{head}</tr>{body}</table></body></html>\n")


def _cell(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)
