"""Our store's uncached lookups as the data set grows (`--scaling`): 1k, 10k, 100k, 1M teams by default.

Each size adds its teams to the previous ones (the same generator, so the first N teams are those of the
N-team data set), with tokens drawn from a few pre-encrypted ones: populating costs no encryption. After
each load the planner statistics are refreshed (ANALYZE), then the three lookups run in interleaved rounds
on keys drawn uniformly from every team loaded so far, interleaved with the raw floor's find_installation on
the same keys: a reference that tells a slower machine (both move) from a slower store (ours alone moves).
Each call runs its round's keys once untimed before it is timed on them: what is measured is the lookup with
its rows in the server's cache, whatever the cache's size.
"""

import random
import time

from django_slack_store.stores import DjangoInstallationStore

from . import config, data
from .run import READS, Options, _time_sync, p50_us
from .subjects import FLOORS, StoreSubject

SAMPLE = 5000  # keys kept for the lookups, drawn uniformly from all keys loaded so far


class Reservoir:
    """A uniform random sample of every key that went by (Vitter's algorithm R), at any size."""

    def __init__(self, size: int, rng: random.Random):
        self.size, self.rng, self.keys, self.seen = size, rng, [], 0

    def feed(self, keys):
        for key in keys:
            self.seen += 1
            if len(self.keys) < self.size:
                self.keys.append(key)
            elif (slot := self.rng.randrange(self.seen)) < self.size:
                self.keys[slot] = key
            yield key


def run(database: str, sizes: list[int], options: Options, log) -> list[dict]:
    tokens = data.PooledTokens()
    rng = random.Random(f"{options.seed}:scaling")
    sample = Reservoir(SAMPLE, rng)
    # On PostgreSQL, the tuned alias: the OPTIONS this run has always used, so its figures stay comparable
    # between runs. What it checks (a find's cost does not grow with the data set) is the indexes' doing,
    # whatever the OPTIONS.
    alias = config.TUNED if database == "postgresql" else "default"
    ours = StoreSubject("ours", DjangoInstallationStore(data.CLIENT_ID), alias=alias)
    floor = FLOORS[database][0]()
    steps, loaded, rows = [], 0, [0, 0]
    for size in sorted(sizes):
        started = time.perf_counter()
        installations, bots = data.write_ours(database, sample.feed(data.generate(loaded, size, tokens)))
        data.analyze(database)
        seconds = time.perf_counter() - started
        rows = [rows[0] + installations, rows[1] + bots]
        log(
            f"  {size:>9,} teams: +{size - loaded:,} teams, +{installations:,} installations and "
            f"+{bots:,} bots in {seconds:.1f} s"
        )
        loaded = size
        with ours.active():
            samples = _measure(ours, floor, sample.keys, options)
        steps.append(
            {
                "teams": size,
                "installations": rows[0],
                "bots": rows[1],
                "populate_s": seconds,
                "p50_us": {op: p50_us(s) for op, s in samples.items()},
            }
        )
        log("            " + ", ".join(f"{op} {value:.0f} µs" for op, value in steps[-1]["p50_us"].items()))
    floor.close()
    return steps


def _measure(ours, floor, keys, options) -> dict[str, list[int]]:
    calls = {op: getattr(ours, op) for op in READS} | {"floor find_installation": floor.find_installation}
    samples = {name: [] for name in calls}
    for number in range(options.rounds + 1):  # round 0 warms up and is not recorded
        rng = random.Random(f"{options.seed}:scaling:{len(keys)}:{number}")
        batch = rng.choices(keys, k=options.batch if number else max(10, options.batch // 10))
        for name in rng.sample(list(calls), len(calls)):
            # The batch once untimed first: where the data outgrows the server's cache (MariaDB's default
            # 128 MB buffer pool, with no OS cache behind it under O_DIRECT, holds 1M teams' rows no more),
            # the call that came first in the shuffled order would pay the disk reads for the others.
            _time_sync(calls[name], batch)
            timings = _time_sync(calls[name], batch)
            if number:
                samples[name].extend(timings)
    return samples
