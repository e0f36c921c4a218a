"""`imfault bench convergence`'s engine: one update at a time through N real `HubCore`s.

A trial needs only the hubs' gossip, so the loop is lean: N hubs (no store, no access nodes, no
users), a virtual clock, a heap of timers and WAN frames (one-way latency `latency_ms`), and the
real core code for everything the hubs do. Each trial routes one message at a random DC (at a
random moment of a round), then runs until every DC applied it and, in the rumor modes, until no
hub holds it hot any more (so the frames the stop rule costs are counted).

Rounds: the time from the first round boundary after the origination (rumor modes: hubs gossip
on the boundaries; other modes: from the origination itself) to the last DC's apply, in rounds
of `round_ms(interval, latency)` — the gossip interval when the WAN is faster than a round, else
the whole intervals a frame needs to arrive before the next boundary.
"""

from __future__ import annotations

import heapq
import json
import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from imcluster._config import RUMOR_MODES, HubConfig
from imcluster._events import AccessFrame, LogEvent, PeerFrame, SendPeer, SetTimer, TimerFired
from imcluster._hub import HubCore
from imcluster._state import Entry

__all__ = ["ConvergenceRow", "measure", "percentile", "round_ms", "theory_rounds", "trial_rounds"]

MAX_TRIAL_ROUNDS = 10_000  # a trial that has not converged by then counts as not converged


def theory_rounds(mode: str, dcs: int, fanout: int = 1) -> float | None:
    """Expected rounds for one update to reach all `dcs` DCs (docs/architecture.md "Gossip
    modes"): push log_{K+1} N + ln N / K (Pittel 1987 for K = 1), pull log_{K+1} N +
    log_{K+1} ln N and push-pull log_{2K+1} N + log_2 ln N (Karp et al. 2000, the
    O(log log N) end phase taken as its leading term); flood `push` 1; None for anti-entropy."""
    n, k = dcs, fanout
    if n < 2:
        return 0.0
    if mode == "rumor-push":
        return math.log(n, k + 1) + math.log(n) / k
    if mode == "rumor-pull":
        return math.log(n, k + 1) + math.log(max(math.log(n), 1.0), k + 1)
    if mode == "rumor-push-pull":
        return math.log(n, 2 * k + 1) + math.log2(max(math.log(n), 1.0))
    if mode == "push":
        return 1.0
    return None


def round_ms(interval_ms: float, latency_ms: float) -> float:
    """A round on the wire: frames sent on a boundary are used on the next boundary after
    they arrived (a frame arriving exactly on a boundary waits for the next one)."""
    return interval_ms * (math.floor(latency_ms / interval_ms) + 1)


def trial_rounds(origin_ns: int, last_ns: int, interval_ns: int, round_ns: int,
                 rumor: bool) -> int:
    """Rounds of one trial: from the first round boundary after the origination (rumor modes:
    the hubs gossip on the boundaries; other modes: from the origination itself) to the last
    DC's apply, in whole rounds of `round_ns` (the round in which the last DC applied it)."""
    t0 = (origin_ns // interval_ns + 1) * interval_ns if rumor else origin_ns
    return math.floor((last_ns - t0) / round_ns) + 1


_HEADS: dict[tuple[Any, ...], int] = {}


def frame_bytes(frame: dict[str, Any]) -> int:
    """Bytes of `frame` on the wire, one JSON line (entries cross in-process as `Entry`s; their
    encoded size is cached on them, and so is the size of a rumor frame's other fields)."""
    entries = frame.get("entries")
    if frame.get("type") == "rumor" and isinstance(entries, list):
        shape = (frame.get("pull"), bool(entries))
        head = _HEADS.get(shape)
        if head is None:
            head = _HEADS[shape] = len(json.dumps({**frame, "entries": []},
                                                  separators=(",", ":"))) + 1
        if not entries:
            return head
    elif not isinstance(entries, list) or not entries:
        return len(json.dumps(frame, separators=(",", ":"))) + 1
    else:
        head = len(json.dumps({**frame, "entries": []}, separators=(",", ":"))) + 1
    # each entry's size includes its own newline: that counts the commas between them
    return head + sum(e.size if isinstance(e, Entry) else len(json.dumps(e)) + 1
                      for e in entries) - 1


@dataclass
class ConvergenceRow:
    """One line of the table and of convergence.json."""

    dcs: int
    gossip: str
    fanout: int
    trials: int
    mean_rounds: float
    p50_rounds: float
    p99_rounds: float
    max_rounds: float
    theory_rounds: float | None
    frames_per_update: float
    bytes_per_update: float
    mean_ms: float = 0.0
    unconverged: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0  # CPU seconds of the trials (summed over worker processes; sim only)
    backend: str = "sim"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def percentile(ordered: list[float], q: float) -> float:
    """The `q` quantile (nearest rank) of the sorted list `ordered`."""
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summary_row(dcs: int, mode: str, fanout: int, trials: int, rounds: Sequence[float],
                frames: Sequence[float], sizes: Sequence[float], times_ms: Sequence[float],
                unconverged: int,
                started: float, **extra: Any) -> ConvergenceRow:
    """One row from the trials' rounds (sorted by this function), frames, bytes and milliseconds
    per update; `started` is the row's `time.monotonic()` start; `extra`: `cpu_s`, `backend`."""
    import time

    ordered = sorted(rounds) or [math.inf]
    return ConvergenceRow(
        dcs=dcs, gossip=mode, fanout=fanout, trials=trials,
        mean_rounds=statistics.fmean(ordered), p50_rounds=percentile(ordered, 0.5),
        p99_rounds=percentile(ordered, 0.99), max_rounds=ordered[-1],
        theory_rounds=theory_rounds(mode, dcs, fanout),
        frames_per_update=statistics.fmean(frames) if frames else math.inf,
        bytes_per_update=statistics.fmean(sizes) if sizes else math.inf,
        mean_ms=statistics.fmean(times_ms) if times_ms else math.inf,
        unconverged=unconverged, wall_s=round(time.monotonic() - started, 3), **extra)


class _Net:
    """N hubs, a virtual clock in ns and a heap of (time, seq, hub index, event)."""

    def __init__(self, dcs: int, mode: str, fanout: int, interval_ms: float, latency_ms: float,
                 rng: random.Random) -> None:
        names = [f"dc{i}" for i in range(1, dcs + 1)]
        self.index = {name: i for i, name in enumerate(names)}
        self.latency_ns = int(latency_ms * 1e6)
        self.mode = mode
        self.hubs = [HubCore(HubConfig(dc=name, peers=tuple(names), gossip=mode,
                                       gossip_interval_ms=interval_ms, gossip_fanout=fanout,
                                       count_wan_bytes=False, in_process_entries=True),
                             random.Random(rng.getrandbits(64))) for name in names]
        self.now = 0
        self.queue: list[tuple[int, int, int, object]] = []
        self.seq = 0
        self.frames = 0
        self.bytes = 0
        self.on_apply: Callable[[int, Entry], None] = lambda i, e: None
        for i, hub in enumerate(self.hubs):
            self._carry(i, hub.start(0))

    def _at(self, when: int, hub: int, event: object) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (when, self.seq, hub, event))

    def _carry(self, i: int, effects: Sequence[object]) -> None:
        for effect in effects:
            if isinstance(effect, SendPeer):
                self.frames += 1
                self.bytes += frame_bytes(effect.frame)
                self._at(self.now + self.latency_ns, self.index[effect.peer],
                         PeerFrame(self.hubs[i].dc, effect.frame))
            elif isinstance(effect, SetTimer):
                # timers before frames at one instant: a frame arriving on a boundary waits
                self.seq += 1
                heapq.heappush(self.queue, (self.now + round(effect.delay_ms * 1e6), -self.seq,
                                            i, TimerFired(effect.name)))
            elif isinstance(effect, LogEvent) and effect.event in ("apply", "originate"):
                self.on_apply(i, effect.entry)

    def handle(self, i: int, event: object) -> None:
        self._carry(i, self.hubs[i].handle(event, self.now))

    def run_to(self, limit_ns: int) -> None:
        """Carry out every event due at or before `limit_ns`."""
        self.run_until(lambda: False, limit_ns)

    def run_until(self, done: Callable[[], bool], limit_ns: int) -> bool:
        while self.queue and not done():
            if self.queue[0][0] > limit_ns:
                return False
            when, _, i, event = heapq.heappop(self.queue)
            self.now = when
            self.handle(i, event)
        return done()


BLOCK_TRIALS = 50  # trials per cluster: a row's blocks are independent (`--jobs` runs them apart)


@dataclass
class _Block:
    """The raw results of one block of trials on one cluster."""

    rounds: list[float]
    times: list[float]
    frames: list[int]
    sizes: list[int]
    unconverged: int
    cpu_s: float


def measure(dcs: int, mode: str, fanout: int = 1, trials: int = 200, interval_ms: float = 200,
            latency_ms: float = 50, seed: int = 0, engine: str = "lean",
            jobs: int = 1) -> ConvergenceRow:
    """Run `trials` single-update trials on `dcs` hubs in gossip `mode`; one row of results.

    The trials run in blocks of `BLOCK_TRIALS`, each on a cluster of its own seeded from
    (`seed`, N, mode, K, block), so a row does not depend on `jobs` (worker processes that run
    the blocks side by side). The rumor modes run on `RumorNet` (`engine="lean"`) or on the
    general `_Net` (`engine="heap"`, the reference the lean loop is tested against)."""
    import time
    from concurrent.futures import ProcessPoolExecutor

    if engine not in ("lean", "heap"):
        raise ValueError(f"unknown engine {engine!r}")
    started = time.monotonic()
    sizes = [min(BLOCK_TRIALS, trials - b) for b in range(0, trials, BLOCK_TRIALS)]
    args = [(dcs, mode, fanout, n, interval_ms, latency_ms, seed, b, engine)
            for b, n in enumerate(sizes)]
    if jobs > 1 and len(args) > 1:
        pool = ProcessPoolExecutor(max_workers=min(jobs, len(args)))
        try:
            blocks = list(pool.map(_run_block, *zip(*args, strict=True)))
        except BaseException:  # Ctrl-C, an error: end the workers by id, not after their block
            for worker in list(getattr(pool, "_processes", {}).values()):
                worker.terminate()
            raise
        finally:
            pool.shutdown(cancel_futures=True)
    else:
        blocks = [_run_block(*a) for a in args]
    return summary_row(
        dcs, mode, fanout, trials, rounds=[r for b in blocks for r in b.rounds],
        frames=[f for b in blocks for f in b.frames], sizes=[s for b in blocks for s in b.sizes],
        times_ms=[t for b in blocks for t in b.times],
        unconverged=sum(b.unconverged for b in blocks), started=started,
        cpu_s=round(sum(b.cpu_s for b in blocks), 3))


def _run_block(dcs: int, mode: str, fanout: int, trials: int, interval_ms: float,
               latency_ms: float, seed: int, block: int, engine: str) -> _Block:
    """`trials` trials, one after the other, on one cluster (block 0's seed is the row's)."""
    import time

    from ._rumor_net import RumorNet

    cpu0 = time.process_time()
    rng = random.Random(f"{seed}:{dcs}:{mode}:{fanout}" + (f":{block}" if block else ""))
    rumor = mode in RUMOR_MODES
    net: _Net | RumorNet
    if rumor and engine == "lean":
        net = RumorNet(dcs, mode, fanout, interval_ms, latency_ms, rng, frame_bytes)
    else:
        net = _Net(dcs, mode, fanout, interval_ms, latency_ms, rng)
    interval_ns = int(interval_ms * 1e6)
    round_ns = int(round_ms(interval_ms, latency_ms) * 1e6)
    rounds: list[float] = []
    times: list[float] = []
    frames: list[int] = []
    sizes: list[int] = []
    unconverged = 0
    for trial in range(trials):
        applied: set[int] = set()
        last = [0]
        target: list[tuple[str, int]] = []

        def on_apply(i: int, entry: Entry, target: list[tuple[str, int]] = target,
                     applied: set[int] = applied, last: list[int] = last) -> None:
            if not target:
                target.append(entry.dot)  # the originate event comes first
            if entry.dot == target[0]:
                applied.add(i)
                last[0] = net.now

        net.on_apply = on_apply
        # originate at a random DC, at a random moment of a round, after the last trial settled
        start = (net.now // interval_ns + 1) * interval_ns + int(rng.random() * interval_ns)
        net.run_to(start)
        net.now = start
        origin = rng.randrange(dcs)
        frames0, bytes0 = net.frames, net.bytes
        msg = {"id": f"m{trial}", "from": "bench", "to": "nobody", "body": "x"}
        hub = net.hubs[origin]
        net.handle(origin, AccessFrame("bench-access", {"type": "route", "msg": msg}))
        if len(applied) != 1:
            raise RuntimeError(f"{hub.dc} did not originate the trial's update")
        limit = start + MAX_TRIAL_ROUNDS * round_ns
        if rumor:
            # round by round until no hub holds the update hot (the stop rule ends every rumor)
            while any(target[0] in h.hot for h in net.hubs) and net.now < limit:
                boundary = (net.now // interval_ns + 1) * interval_ns
                net.run_to(boundary)
                net.now = boundary
        else:
            assert isinstance(net, _Net)
            net.run_until(lambda applied=applied: len(applied) == dcs, limit)  # type: ignore[misc]
        if len(applied) < dcs:
            unconverged += 1  # a rumor that died out (or a trial past MAX_TRIAL_ROUNDS)
            continue
        rounds.append(trial_rounds(start, last[0], interval_ns, round_ns, rumor) if dcs > 1 else 0)
        times.append((last[0] - start) / 1e6)
        frames.append(net.frames - frames0)
        sizes.append(net.bytes - bytes0)
    return _Block(rounds, times, frames, sizes, unconverged, time.process_time() - cpu0)
