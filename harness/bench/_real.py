"""`imfault bench convergence --backend local|docker`: the sim bench's trials on real processes.

The sim figures are anchored to real ones for small N (at most `MAX_REAL_DCS`): a cluster of
real hubs and access nodes behind the Toxiproxy WAN (one-way `latency_ms`), one client logged
in per DC. A trial is the sim's: one message sent at a random DC at a random moment of a round,
the trial done when every hub's version vector holds it (admin `status`, polled), then — with
`cooldown` — (R + 1) rounds more so the rumor's stop rule has run out before the next trial and
the WAN frames and bytes of the hubs' counters in between are the trial's. Without `cooldown`
the trials overlap, one sent at a random moment of the round after the last was sent (fast; an
update still spreading rides in the same frames as the next: each hub still calls uniformly
random peers whatever it holds, so no update's rounds change, but the frames are shared, so
frames and bytes are then the run's total divided by the trials). Rounds and ms come from the hubs' event logs
(real wall clock, the clock the hubs' round boundaries are aligned to), counted as the sim
counts them (`_convergence.trial_rounds`).
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from imcluster._config import RUMOR_MODES, rumor_rounds

from ..backends import ClusterSpec, get_backend, run_coroutine_sync
from ..backends._base import Backend
from ..errors import UsageError
from ._convergence import ConvergenceRow, round_ms, summary_row, trial_rounds

__all__ = ["MAX_REAL_DCS", "measure_real"]

MAX_REAL_DCS = 10
TRIAL_TIMEOUT_ROUNDS = 60  # a trial not converged by then counts as not converged


def measure_real(backend_name: str, dcs: int, mode: str, fanout: int = 1, trials: int = 30,
                 interval_ms: float = 200, latency_ms: float = 50, seed: int = 0,
                 cooldown: bool = True) -> ConvergenceRow:
    """Run `trials` single-update trials on a real cluster of `dcs` DCs; one row of results."""
    if not 2 <= dcs <= MAX_REAL_DCS:
        raise UsageError(f"--backend {backend_name} runs at most {MAX_REAL_DCS} DCs (got {dcs})")
    started = time.monotonic()
    backend = get_backend(backend_name)
    spec = ClusterSpec(dcs=dcs, gossip=mode, gossip_fanout=fanout, gossip_interval_ms=interval_ms,
                       wan_latency_ms=latency_ms, seed=seed)
    rng = random.Random(f"{seed}:{dcs}:{mode}:{fanout}:{backend_name}")
    collected = Path(tempfile.mkdtemp(prefix="imfault-bench-"))
    try:
        backend.start(spec)
        sent, frames, sizes = run_coroutine_sync(
            _trials(backend, spec, trials, rng, cooldown))
        logs = backend.collect(collected)
        times = _trial_times(logs, sent)
    finally:
        backend.stop()
        shutil.rmtree(collected, ignore_errors=True)
        shutil.rmtree(spec.work_dir, ignore_errors=True)
    interval_ns, round_ns = round(interval_ms * 1e6), round(round_ms(interval_ms, latency_ms) * 1e6)
    rumor = mode in RUMOR_MODES
    return summary_row(
        dcs, mode, fanout, trials,
        rounds=[trial_rounds(t0, last, interval_ns, round_ns, rumor)
                for t0, last in times.values()],
        frames=frames, sizes=sizes, times_ms=[(last - t0) / 1e6 for t0, last in times.values()],
        unconverged=trials - len(times), started=started, backend=backend_name)


async def _trials(backend: Backend, spec: ClusterSpec, trials: int, rng: random.Random,
                  cooldown: bool) -> tuple[list[tuple[str, str]], list[int], list[int]]:
    """Send the trials' messages; (message id, origin DC) of each, and the frames and bytes."""
    from imcluster.client import AdminClient, Client

    names = spec.dc_names
    interval_s = spec.gossip_interval_ms / 1000
    round_s = round_ms(spec.gossip_interval_ms, spec.wan_latency_ms) / 1000
    hot_s = (rumor_rounds(spec.dcs) + 1) * round_s if spec.gossip in RUMOR_MODES else round_s
    clients: dict[str, Client] = {}
    admins = {dc: AdminClient(backend.hub(dc).host, backend.hub(dc).port, backend.secret)
              for dc in names}  # one connection each, kept: polled several times a round
    sent: list[tuple[str, str]] = []
    frames: list[int] = []
    sizes: list[int] = []
    try:
        for dc, addresses in backend.access_addresses().items():
            client = clients[dc] = Client(*addresses[0], backend.secret)
            await client.connect()
            await client.login(f"bench-{dc}")
        await asyncio.sleep(hot_s + round_s)  # the logins' coordinates spread and cool down
        first = await _counters(admins, names)
        seqs = {dc: first[dc][2] for dc in names}  # each hub's own last entry
        for trial in range(trials):
            before = await _counters(admins, names) if cooldown else first
            origin = names[rng.randrange(len(names))]
            seqs[origin] += 1  # the trial's message is the origin's next entry
            now = time.time()
            await asyncio.sleep((now // interval_s + 1) * interval_s
                                + rng.random() * interval_s - now)
            msg_id = f"bench{spec.seed}-{trial}"
            await clients[origin].send(msg_id, "nobody", "x")
            sent.append((msg_id, origin))
            if cooldown:  # wait for this one to reach every DC and to cool down
                await _until_held(admins, names, {origin: seqs[origin]}, round_s)
                await asyncio.sleep(hot_s)
                after = await _counters(admins, names)
                frames.append(sum(after[dc][0] - before[dc][0] for dc in names))
                sizes.append(sum(after[dc][1] - before[dc][1] for dc in names))
        if not cooldown:  # the trials overlapped: wait for the last ones, share the frames
            await _until_held(admins, names, seqs, round_s)
            await asyncio.sleep(hot_s)
            last = await _counters(admins, names)
            frames = [round(sum(last[dc][0] - first[dc][0] for dc in names) / trials)]
            sizes = [round(sum(last[dc][1] - first[dc][1] for dc in names) / trials)]
    finally:
        for client in clients.values():
            await client.close()
        for admin in admins.values():
            await admin.close()
    return sent, frames, sizes


async def _until_held(admins: dict[str, Any], names: list[str], seqs: dict[str, int],
                      round_s: float) -> None:
    """Poll the hubs until each holds entry `seqs[origin]` of every origin (or time is up: the
    event logs then tell which trials did not converge)."""
    deadline = time.monotonic() + TRIAL_TIMEOUT_ROUNDS * round_s
    await asyncio.sleep(round_s)
    while time.monotonic() < deadline:
        held = [await _counters(admins, names, origin) for origin in seqs]
        if all(vv >= seqs[origin] for origin, status in zip(seqs, held, strict=True)
               for _, _, vv in status.values()):
            return
        await asyncio.sleep(round_s / 4)


async def _counters(admins: dict[str, Any], names: list[str],
                    origin: str | None = None) -> dict[str, tuple[int, int, int]]:
    """{dc: (WAN frames sent, WAN bytes sent, version vector entry of `origin`)} of each hub
    (`origin` None: each hub's own entry), from its admin `status`."""
    statuses = await asyncio.gather(*(admins[dc].status() for dc in names))
    out = {}
    for dc, status in zip(names, statuses, strict=True):
        counters = status.get("counters", {})
        out[dc] = (int(counters.get("wan_frames_sent", 0)), int(counters.get("wan_bytes_sent", 0)),
                   int(status.get("vv", {}).get(origin or dc, 0)))
    return out


def _trial_times(logs: dict[str, Path], sent: list[tuple[str, str]]) -> dict[str, tuple[int, int]]:
    """{message id: (originate ts_ns, last DC's apply ts_ns)} of the trials every DC applied."""
    wanted = {msg_id: origin for msg_id, origin in sent}
    seen: dict[str, dict[str, int]] = {msg_id: {} for msg_id in wanted}
    for dc, path in logs.items():
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            record: dict[str, Any] = json.loads(line)
            key = record.get("key")
            if record.get("kind") == "msg" and key in wanted \
                    and record.get("origin") == wanted[key]:
                seen[key].setdefault(dc, int(record["ts_ns"]))
    return {msg_id: (by_dc[wanted[msg_id]], max(by_dc.values()))
            for msg_id, by_dc in seen.items()
            if len(by_dc) == len(logs) and wanted[msg_id] in by_dc}
