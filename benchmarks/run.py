"""Rounds and statistics.

In every round each (subject, operation) runs one batch of calls, the batches in a shuffled order, so that a
drift of the machine (another process, the page cache, a checkpoint) hits every subject alike. A latency is
the median (p50) over every call of every round. Lookups of a round use the same random keys for every
subject. Only the call is timed: keys, slack_sdk objects and row values are made before the clock starts.
Beside the times, the process's CPU time over each timed batch (the client's CPU per call).

Each round also gives every async subject a window of CONCURRENCY tasks per lookup of CONCURRENT_OPS:
lookups per second, client CPU per lookup and the event loop's largest lag. Everything runs on one event
loop of the main thread (loop.run_until_complete), never under async_to_sync: the native path of our store
applies there, as in an ASGI server (Bench.check() verifies that each async subject of ours took its path).
"""

import asyncio
import contextlib
import copy
import itertools
import random
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_slack_store import native

from . import data

OPS = ("find_installation", "find_installation_user", "find_bot", "save_new", "save_rotation")
READS = OPS[:3]
CONCURRENCY = 64
CONCURRENT_OPS = ("find_installation", "find_bot")
TICK = 0.001  # the ticker's period: its lag is how long the event loop was kept from running it
WARMUP_SECONDS = 0.2  # before a concurrent window: pools fill up, connections open


@dataclass
class Options:
    rounds: int
    batch: int  # calls per (subject, operation) per round
    seconds: float  # length of a concurrent window
    seed: str = data.SEED


def _time_sync(call, args) -> list[int]:
    clock, samples = time.perf_counter_ns, []
    for arg in args:
        start = clock()
        call(arg)
        samples.append(clock() - start)
    return samples


async def _time_async(call, args) -> list[int]:
    clock, samples = time.perf_counter_ns, []
    for arg in args:
        start = clock()
        await call(arg)
        samples.append(clock() - start)
    return samples


def _noop():
    pass


async def _hop(_):
    await sync_to_async(_noop)()


def p50_us(samples) -> float:
    return statistics.median(samples) / 1000


class Bench:
    """The rounds of one database: `subjects` (subjects.Subjects) over the data set's `keys`."""

    def __init__(self, keys, subjects, options, log):
        self.subjects, self.options, self.log, self.loop = subjects, options, log, subjects.loop
        # Some keys are kept for the rotation saves (ours and slack_sdk's on one half, the floor, which writes
        # plaintext into our tables, on the other), so the lookups never read a row a save rewrote.
        reserve = min(options.batch, len(keys) // 10)
        self.readable = keys[: len(keys) - 2 * reserve]
        self.rotated = {"stores": keys[-2 * reserve : -reserve], "floor": keys[-reserve:]}
        self.tokens = data.UniqueTokens()
        self.serial = itertools.count()
        self.samples = defaultdict(list)  # (mode, subject, operation) -> ns
        self.cpu = defaultdict(int)  # (mode, subject, operation) -> process CPU ns of its timed batches
        # (subject, operation) -> [(lookups/s, ticker max lag s, process CPU ns per lookup)] per round
        self.concurrent = defaultdict(list)
        self.cache_misses = defaultdict(int)  # cached subject -> SQL statements during its timed sync calls

    def _run(self, subject, call, args) -> tuple[list[int], int]:
        """Each call's time (ns), and the process CPU time of them all (ns): the client's CPU, of every
        thread of this process (asgiref's, aiosqlite's too); the database server is another process."""
        cpu = time.process_time_ns()
        if subject.mode == "sync":
            samples = _time_sync(call, args)
        else:
            samples = self.loop.run_until_complete(_time_async(call, args))
        return samples, time.process_time_ns() - cpu

    def _args(self, subject, op, keys, rng):
        if op in READS:
            return keys
        if op == "save_new":
            installs = [data.new_install(f"N{next(self.serial):010d}", rng, self.tokens) for _ in keys]
        else:
            rotated = self.rotated["floor" if subject.name == "floor" else "stores"]
            installs = [data.rotation(key.latest(), rng, self.tokens) for key in rotated[: len(keys)]]
        return [subject.prepare(install) for install in installs]

    def _batch(self, subject, op, keys, rng, record=True):
        args = self._args(subject, op, keys, rng)
        call = getattr(subject, "save" if op.startswith("save") else op)
        with subject.active():
            if not subject.cached:
                samples, cpu = self._run(subject, call, args)
            else:
                self._run(subject, call, args)  # the same keys once before: what is timed are cache hits
                # Checked, not assumed: a hit runs no SQL (captured on this thread's Django connection, so
                # for the sync calls only).
                with CaptureQueriesContext(connection) as context:
                    samples, cpu = self._run(subject, call, args)
                self.cache_misses[subject.name] += len(context) if record else 0
        if record:
            self.samples[(subject.mode, subject.name, op)].extend(samples)
            self.cpu[(subject.mode, subject.name, op)] += cpu

    def _baselines(self, keys, record=True):
        """What a cache hit could cost at best (a dict and a copy), and the hop each async_ call of ours pays
        on the thread-hop path."""
        table = {
            (k.enterprise_id, k.team_id, k.is_enterprise_install): k.latest().installation() for k in keys
        }
        dict_samples = _time_sync(
            lambda k: copy.copy(table[(k.enterprise_id, k.team_id, k.is_enterprise_install)]), keys
        )
        hop_samples = self.loop.run_until_complete(_time_async(_hop, keys))
        if record:
            self.samples[("sync", "dict", "find_installation")].extend(dict_samples)
            self.samples[("async", "sync_to_async", "hop")].extend(hop_samples)

    def round(self, number, *, record=True, batch=None):
        rng = random.Random(f"{self.options.seed}:round:{number}")
        keys = rng.choices(self.readable, k=batch or self.options.batch)
        cases = [("batch", s, op) for s in [*self.subjects.sync, *self.subjects.asynchronous] for op in OPS]
        cases += [("batch", s, op) for s in self.subjects.cached for op in READS]
        cases += [("baselines", None, None)]
        if record:
            cases += [("concurrent", s, op) for s in self.subjects.asynchronous for op in CONCURRENT_OPS]
        rng.shuffle(cases)
        for kind, subject, op in cases:
            if kind == "baselines":
                self._baselines(keys, record)
            elif kind == "concurrent":
                with subject.active():
                    result = self.loop.run_until_complete(self._concurrently(subject, op, keys))
                self.concurrent[(subject.name, op)].append(result)
            else:
                self._batch(subject, op, keys, rng, record)

    async def _concurrently(self, subject, op, keys):
        """CONCURRENCY tasks sharing the subject run `op` on keys for `seconds`; a ticker task measures how
        late the loop runs it. Returns (lookups per second, the ticker's largest lag in seconds, process CPU
        ns per lookup)."""
        loop = asyncio.get_running_loop()
        state = {"measuring": False, "stop": False, "done": 0}
        lags = []
        find = getattr(subject, op)

        async def lookups(offset):
            for index in itertools.count(offset, CONCURRENCY):
                if state["stop"]:
                    return
                await find(keys[index % len(keys)])
                state["done"] += state["measuring"]

        async def ticker():
            while not state["stop"]:
                due = loop.time() + TICK
                await asyncio.sleep(TICK)
                lags.append(loop.time() - due)

        tasks = [asyncio.create_task(lookups(n)) for n in range(CONCURRENCY)]
        await asyncio.sleep(WARMUP_SECONDS)
        state["measuring"] = True
        started, cpu, tick = time.perf_counter(), time.process_time_ns(), asyncio.create_task(ticker())
        await asyncio.sleep(self.options.seconds)
        done, elapsed, cpu = state["done"], time.perf_counter() - started, time.process_time_ns() - cpu
        state["stop"] = True
        await asyncio.gather(*tasks, tick)
        return done / elapsed, max(lags), cpu / max(done, 1)

    def run(self):
        self.round(0, record=False, batch=max(10, self.options.batch // 10))  # warm-up: connections, caches
        for number in range(1, self.options.rounds + 1):
            started = time.perf_counter()
            self.round(number)
            self.log(f"  round {number}/{self.options.rounds}: {time.perf_counter() - started:.1f} s")

    # -- before timing -------------------------------------------------------------------------------

    def check(self, count=40):
        """Every subject must return the logical answer the data set defines, or the run stops here.

        slack_sdk's store serves the latest installation's bot, ours the freshest bot (docs/store.md); where
        the two differ (an older installation's bot refreshed last), its bot token is not compared. Each
        async subject of ours must also take the path it stands for: every call native, or none."""
        rng = random.Random(f"{self.options.seed}:check")
        readable = self.readable
        special = [
            [k for k in readable if k.is_enterprise_install][:5],
            [k for k in readable if k.enterprise_id and not k.is_enterprise_install][:5],
            [k for k in readable if not k.bots_agree()][:5],
            [k for k in readable if k.latest().bot_refresh_token][:5],
        ]
        keys = [*itertools.chain(*special), *rng.sample(readable, min(count, len(readable)))]
        problems = []
        subjects = self.subjects.all()
        for subject in subjects:
            with subject.active(), _native_calls() as native_calls:
                for _ in range(2 if subject.cached else 1):  # a cached store: the miss, then the hit
                    for key in keys:
                        for op in READS:
                            got, want = self._answer(subject, op, key), _expected(subject, op, key)
                            if got != want:
                                where = f"{subject.mode} {subject.name} {op} {key.team_id}"
                                problems.append(f"{where}: {_masked(got)} != {_masked(want)}")
            if subject.mode == "async" and subject.native is not None:
                want = len(keys) * len(READS) if subject.native else 0
                if native_calls[0] != want:
                    problems.append(f"async {subject.name}: {native_calls[0]} native calls, not {want}")
        if problems:
            raise SystemExit("Correctness check failed:\n  " + "\n  ".join(problems[:20]))
        self.log(f"  correctness: {len(subjects)} subjects agree on {len(keys)} keys x {len(READS)} lookups")

    def native_pools(self) -> dict:
        """Connections the native path opened per database alias over the whole run. Read after the run:
        the pools lived through it (none was replaced and reopened), and a few connections served it all."""
        opened = {}
        for subject in self.subjects.asynchronous:
            if subject.native:
                with subject.active():
                    found = self.loop.run_until_complete(native.database(subject.store.installation_model))
                if found is None or not found.pool.opened:
                    raise SystemExit(f"async {subject.name}: the native path opened no connection")
                opened[subject.alias] = found.pool.opened
        return opened

    def _answer(self, subject, op, key):
        result = self._run_one(subject, getattr(subject, op), key)
        answer = (subject.describe_bot if op == "find_bot" else subject.describe_installation)(result)
        return _comparable(subject, key, answer)

    def _run_one(self, subject, call, arg):
        if subject.mode == "sync":
            return call(arg)
        return self.loop.run_until_complete(call(arg))

    def count_queries(self) -> dict:
        """SQL statements of one call of ours (Django's CaptureQueriesContext: BEGIN/COMMIT not included)."""
        ours = self.subjects.sync[0]
        key, rng = self.readable[0], random.Random(f"{self.options.seed}:queries")
        counts = {}
        for op in OPS:
            arg = self._args(ours, op, [key], rng)[0]
            with CaptureQueriesContext(connection) as context:
                getattr(ours, "save" if op.startswith("save") else op)(arg)
            counts[op] = len(context)
        for subject in self.subjects.cached:
            if subject.mode == "sync":
                with subject.active():
                    subject.find_installation(key)
                    with CaptureQueriesContext(connection) as context:
                        subject.find_installation(key)
                counts[f"{subject.name} hit"] = len(context)
        return counts

    # -- results -------------------------------------------------------------------------------------

    def results(self) -> dict:
        return {
            "p50_us": {"|".join(k): p50_us(v) for k, v in self.samples.items()},
            "calls": {"|".join(k): len(v) for k, v in self.samples.items()},
            "cpu_us": {"|".join(k): v / len(self.samples[k]) / 1000 for k, v in self.cpu.items()},
            "cache_misses": dict(self.cache_misses),
            "concurrent": {
                "|".join(key): {
                    "lookups_per_s": statistics.median(r[0] for r in rounds),
                    "max_lag_ms": max(r[1] for r in rounds) * 1000,
                    "cpu_us": statistics.median(r[2] for r in rounds) / 1000,
                    "rounds": len(rounds),
                }
                for key, rounds in self.concurrent.items()
            },
        }


@contextlib.contextmanager
def _native_calls():
    """Counts the async calls of ours in the block that took the native path. The store asks
    native.database() on every async call and runs the sync method in a thread when it answers None."""
    real, count = native.database, [0]

    async def counting(model):
        found = await real(model)
        count[0] += found is not None
        return found

    native.database = counting
    try:
        yield count
    finally:
        native.database = real


def _expected(subject, op, key):
    served = key.served_bot()
    if op == "find_bot":
        answer = (served.team_id, served.bot_token)
    else:
        latest = key.latest(key.user_id if op == "find_installation_user" else None)
        answer = (latest.team_id, latest.user_id, served.bot_token)
    return _comparable(subject, key, answer)


def _comparable(subject, key, answer):
    """The answer without its bot token where slack_sdk's store may serve another bot than ours."""
    if answer and subject.name == "slack_sdk" and not key.bots_agree():
        return (*answer[:-1], "(not compared)")
    return answer


def _masked(answer):
    """Tokens as the admin shows them (xoxb-…abcd): fake ones here, but a token never goes to a log whole."""
    if not answer:
        return answer
    return tuple(f"{v[:5]}…{v[-4:]}" if isinstance(v, str) and v.startswith("xox") else v for v in answer)
