"""Tables (Markdown, printed as they are and written to benchmark-results.md) and charts (matplotlib, Agg)."""

import datetime
import os
import platform
from importlib import metadata
from pathlib import Path

from . import config

OPS = ("find_installation", "find_installation_user", "find_bot", "save_new", "save_rotation")
READS = OPS[:3]
OP_LABELS = {
    "find_installation": "find_installation",
    "find_installation_user": "find_installation (user_id)",
    "find_bot": "find_bot",
    "save_new": "save (new installation + bot)",
    "save_rotation": "save (token rotation)",
}
MODES = {"sync": "sync", "async": "async, c=1"}
# As in run.py, which this process does not import: it needs Django set up.
CONCURRENCY = 64
CONCURRENT_OPS = ("find_installation", "find_bot")
PACKAGES = (
    "Django",
    "slack_sdk",
    "SQLAlchemy",
    "psycopg",
    "aiosqlite",
    "mysqlclient",
    "asyncmy",
    "asgiref",
    "cryptography",
    "redis",
)


def machine_facts() -> dict:
    facts = {
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "RAM": _ram(),
        "Python": platform.python_version(),
    }
    for package in PACKAGES:
        name = "redis-py" if package == "redis" else package  # not to be taken for the server's version
        try:
            facts[name] = metadata.version(package)
        except metadata.PackageNotFoundError:
            facts[name] = "not installed"
    return facts


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


# -- formatting ----------------------------------------------------------------------------------------


def table(headers, rows) -> str:
    """A Markdown table with padded columns, readable as plain text too."""
    cells = [list(map(str, headers)), *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(_is_number(row[i]) for row in cells[1:]) for i in range(len(headers))]

    def line(row):
        padded = (c.rjust(w) if n else c.ljust(w) for c, w, n in zip(row, widths, numeric, strict=True))
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(
        ("-" * (w + 1) + ":") if n else ("-" * (w + 2)) for w, n in zip(widths, numeric, strict=True)
    )
    return "\n".join([line(cells[0]), rule + "|", *map(line, cells[1:])])


def _is_number(cell: str) -> bool:
    return cell in ("—", "") or cell.rstrip("×").replace(",", "").replace(".", "").isdigit()


def us(value) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def ratio(a, b) -> str:
    return "—" if a is None or not b else f"{a / b:.2f}×"


def seconds(value) -> str:
    minutes, rest = divmod(value, 60)
    return f"{int(minutes)} min {rest:.0f} s" if minutes else f"{rest:.1f} s"


# -- per database --------------------------------------------------------------------------------------


def label(result) -> str:
    return config.LABELS[result["database"]]


def _p50(result, mode, subject, op):
    return result["p50_us"].get(f"{mode}|{subject}|{op}")


# The subjects of the latency tables, in their order. Ours as measured on PostgreSQL: "ours" on Django's
# default database OPTIONS (async: the native path), "ours-tuned" on config.TUNED_OPTIONS (async: native),
# "ours-hop" on the default OPTIONS with the native path off. SQLite and MariaDB have "ours" only.
STORES = {
    "floor": "floor",
    "ours": "ours",
    "ours-tuned": "ours, tuned",
    "ours-hop": "ours, thread hop",
    "slack_sdk": "slack_sdk",
}
OURS = {"ours": "ours", "ours-tuned": "tuned", "ours-hop": "hop"}  # short names, for the ratio columns


def _stores(result) -> list[str]:
    """The subjects of STORES this result has figures of."""
    measured = {key.split("|")[1] for key in result["p50_us"]}
    return [name for name in STORES if name in measured]


def latency_table(result) -> str:
    stores = _stores(result)
    ours = [name for name in OURS if name in stores]
    rows = []
    for mode in MODES:
        for op in OPS:
            p50 = {name: _p50(result, mode, name, op) for name in stores}
            queries = result["queries"].get(op, "—") if mode == "sync" else "—"
            rows.append(
                [
                    OP_LABELS[op],
                    MODES[mode],
                    *(us(p50[name]) for name in stores),
                    *(ratio(p50[name], p50["floor"]) for name in ours),
                    ratio(p50["ours"], p50["slack_sdk"]),
                    queries,
                ]
            )
    headers = [
        "operation",
        "mode",
        *(STORES[name] for name in stores),
        *(f"{OURS[name]}/floor" for name in ours),
        "ours/slack_sdk",
        "SQL statements",
    ]
    return table(headers, rows)


def cpu_table(result) -> str:
    """Client CPU per find: the benchmark process's CPU time over its timed batches, per call."""
    stores = _stores(result)
    rows = []
    for mode in MODES:
        for op in READS:
            cpu = {name: result["cpu_us"].get(f"{mode}|{name}|{op}") for name in stores}
            rows.append(
                [
                    OP_LABELS[op],
                    MODES[mode],
                    *(us(cpu[name]) for name in stores),
                    ratio(cpu["ours"], cpu["floor"]),
                    ratio(cpu["ours"], cpu["slack_sdk"]),
                ]
            )
    headers = ["find", "mode", *(STORES[name] for name in stores), "ours/floor", "ours/slack_sdk"]
    return table(headers, rows)


CONCURRENT_STORES = {
    "floor": "raw async floor",
    "ours": "ours",
    "ours-tuned": "ours, tuned",
    "ours-hop": "ours, thread hop",
    "slack_sdk": "AsyncSQLAlchemyInstallationStore",
}


def _concurrent(result, name, op) -> dict:
    return result["concurrent"].get(f"{name}|{op}", {})


def concurrency_table(result) -> str:
    rows = []
    for op in CONCURRENT_OPS:
        floor = _concurrent(result, "floor", op).get("lookups_per_s")
        sdk = _concurrent(result, "slack_sdk", op).get("lookups_per_s")
        for name, store in CONCURRENT_STORES.items():
            if c := _concurrent(result, name, op):
                rows.append(
                    [
                        OP_LABELS[op],
                        store,
                        f"{c['lookups_per_s']:,.0f}",
                        ratio(c["lookups_per_s"], floor),
                        ratio(c["lookups_per_s"], sdk),
                        us(c["cpu_us"]),
                        f"{c['max_lag_ms']:.1f}",
                    ]
                )
    headers = [
        "lookup",
        "store",
        "lookups/s",
        "this/floor",
        "this/AsyncSQLAlchemy",
        "client CPU per lookup (µs)",
        "ticker max lag (ms)",
    ]
    return table(headers, rows)


def cache_table(result) -> str:
    rows = []
    for mode in MODES:
        for op in READS:
            values = [_p50(result, mode, s, op) for s in ("ours", "ours+locmem", "ours+redis")]
            rows.append([OP_LABELS[op], MODES[mode], *map(us, values), "—"])
    dict_copy = us(_p50(result, "sync", "dict", "find_installation"))
    hop = us(_p50(result, "async", "sync_to_async", "hop"))
    rows.append(["baseline: a dict lookup + copy.copy of an Installation", "sync", "—", "—", "—", dict_copy])
    rows.append(["baseline: await sync_to_async(noop)(), a thread hop", "async", "—", "—", "—", hop])
    return table(["lookup", "mode", "ours, no cache", "ours + locmem", "ours + redis", "baseline"], rows)


# The floor's drivers (subjects.py), sync and async.
FLOOR_DRIVERS = {
    "sqlite": "`sqlite3` and `aiosqlite`, which cache prepared statements",
    "postgresql": "psycopg's `Connection` and `AsyncConnection`s, with `prepare=True`",
    "mariadb": "MySQLdb (mysqlclient, Django's MySQL driver) and asyncmy (slack_sdk's async store runs on it "
    "too), which bind the parameters into the statement's text as Django does on MariaDB: no prepared "
    "statements",
}


def django_options(result) -> str:
    """What ours ran with, which path its async calls took, and what the floor is."""
    floor = f"The floor: {FLOOR_DRIVERS[result['database']]}."
    if result["database"] != "postgresql":
        options = (
            f" but `OPTIONS = {config.MARIADB_OPTIONS!r}` (as in the store's tests)"
            if result["database"] == "mariadb"
            else ""
        )
        return (
            f"Ours runs on Django's default database settings{options}; its `async_` calls run the sync "
            "method in asgiref's thread-sensitive executor (the native async path is PostgreSQL's only). "
            f"{floor}"
        )
    pools = ", ".join(f"{n} on `{alias}`" for alias, n in result.get("native_pools", {}).items())
    return (
        "**ours**: Django's default database `OPTIONS` (none: client-side binding, no prepared statements "
        "on the sync path); its `async_` calls take the native path, prepared statements on psycopg "
        f"`AsyncConnection`s of its own. **ours, tuned**: `OPTIONS = {config.TUNED_OPTIONS!r}` (docs/"
        "performance.md), a second alias of the same database; async: the native path. **ours, thread "
        "hop**: the default `OPTIONS` with `DJANGO_SLACK_STORE = {'ASYNC_NATIVE': False}`: each `async_` "
        "call runs the sync method in asgiref's thread-sensitive executor, as before the native path. The "
        "three are one store instance, sent to its alias by a database router, interleaved in the same "
        f"rounds. Connections the native path opened over the whole run: {pools or '—'}. {floor}"
    )


def database_section(result, level="##") -> str:
    pop = result["populate_s"]
    queries = result["queries"]
    hits = ", ".join(f"{k.split(' ')[0]}: {v}" for k, v in queries.items() if k.endswith(" hit"))
    redis = f"Redis {result['redis']}" if result.get("redis") else "Redis was not reachable: no redis numbers"
    calls = result["calls"].get("sync|ours+locmem|find_installation", 0) * len(READS)
    misses = ", ".join(f"{name}: {count:,}" for name, count in result.get("cache_misses", {}).items())
    if result["database"] == "postgresql":
        ours_c64 = (
            "Ours on the native path shares up to `ASYNC_POOL_SIZE` (4) connections per alias among the "
            "tasks; the thread hop runs every call in asgiref's one thread-sensitive thread, so one "
            "connection."
        )
    else:
        ours_c64 = "Ours runs each call in asgiref's one thread-sensitive thread, so one connection."
    parts = [
        f"{level} {label(result)}",
        f"{result['server']}. Data set: {result['teams']:,} teams ({result['keys']:,} lookup keys): "
        f"{result['installations']:,} installations and {result['bots']:,} bots, written to our tables "
        f"in {pop['ours']:.1f} s (after {pop['generate']:.1f} s generating and encrypting) and to "
        f"slack_sdk's in {pop['slack_sdk']:.1f} s.",
        django_options(result),
        f"{level}# Latency (µs, p50)",
        latency_table(result),
        "SQL statements: of one call of ours, counted with Django's CaptureQueriesContext (BEGIN and COMMIT "
        "are not statements there).",
        f"{level}# Client CPU per find (µs per call)",
        cpu_table(result),
        "The benchmark process's CPU time (`time.process_time`: every thread of it, asgiref's and "
        "aiosqlite's included) over each subject's timed batches, divided by the calls. It holds the "
        "clients only: the database server is another process (SQLite runs in this one).",
        f"{level}# {CONCURRENCY} concurrent lookups (asyncio tasks sharing one store instance)",
        concurrency_table(result),
        "The same keys for every store, in a window per round (the median round is shown). "
        f"{ours_c64} AsyncSQLAlchemyInstallationStore uses its engine's default pool (5 connections + 10 "
        f"overflow); the floor shares {config.FLOOR_POOL_SIZE} connections among the tasks through a "
        "queue. Client CPU per lookup: the process's CPU time over the window, divided by its lookups. The "
        "ticker is a task that sleeps 1 ms in a loop: its largest lateness over all windows is how long "
        "the event loop was kept busy.",
        f"{level}# Cache (µs, p50: hits, after the same keys were looked up once)",
        cache_table(result),
        f"{redis}. SQL statements of a cache hit (sync find_installation): {hits or '—'}. SQL statements "
        f"during the {calls:,} timed sync lookups of each cached store (a miss runs one): {misses or '—'}.",
    ]
    return "\n\n".join(parts)


# -- targets (PostgreSQL) ----------------------------------------------------------------------------------


def _verdict(measured, met) -> list[str]:
    return [measured, "—" if met is None else ("met" if met else "**missed**")]


def _latency_target(result, subject, mode, op, most) -> list[str]:
    ours, floor = _p50(result, mode, subject, op), _p50(result, mode, "floor", op)
    if ours is None or floor is None:
        return _verdict("not measured", None)
    return _verdict(f"{us(ours)} / {us(floor)} µs = **{ours / floor:.2f}×**", ours / floor <= most)


def _throughput_target(result, op, other, least) -> list[str]:
    ours = _concurrent(result, "ours", op).get("lookups_per_s")
    theirs = _concurrent(result, other, op).get("lookups_per_s")
    if ours is None or theirs is None:
        return _verdict("not measured", None)
    return _verdict(
        f"{ours:,.0f} / {theirs:,.0f} lookups/s = **{ours / theirs:.2f}×**", ours / theirs >= least
    )


def _lag_target(result, below_ms) -> list[str]:
    """Ours' largest lag over its windows of each lookup, with the floor's beside it: the floor's own lag
    is what the machine (other processes, the server on the same cores) adds to any store's."""
    lags = [
        _concurrent(result, name, op).get("max_lag_ms") for name in ("ours", "floor") for op in CONCURRENT_OPS
    ]
    if None in lags:
        return _verdict("not measured", None)
    ours, floor = lags[: len(CONCURRENT_OPS)], lags[len(CONCURRENT_OPS) :]
    measured = ", ".join(f"{lag:.1f} ms ({op})" for op, lag in zip(CONCURRENT_OPS, ours, strict=True))
    return _verdict(f"{measured}; floor: {', '.join(f'{lag:.1f}' for lag in floor)} ms", max(ours) < below_ms)


def targets(result) -> list[list[str]]:
    """[OPTIONS, measure, target, measured, met/missed] of each target, on `result` (PostgreSQL)."""
    c64 = f"async c={CONCURRENCY}"
    rows = []
    for op in READS:
        measured = _latency_target(result, "ours", "async", op, 2.0)
        rows.append(["default", f"{OP_LABELS[op]}, async c=1", "≤ 2.0× the floor", *measured])
    for op in CONCURRENT_OPS:
        floor = _throughput_target(result, op, "floor", 0.5)
        rows.append(["default", f"{OP_LABELS[op]}, {c64}: lookups/s", "≥ 0.5× the floor's", *floor])
    for op in CONCURRENT_OPS:
        sdk = _throughput_target(result, op, "slack_sdk", 3.0)
        rows.append(["default", f"{OP_LABELS[op]}, {c64}: lookups/s", "≥ 3× AsyncSQLAlchemy's", *sdk])
    rows.append(["default", f"event-loop lag at {c64} (ticker max)", "< 5 ms", *_lag_target(result, 5.0)])
    for op in READS:
        measured = _latency_target(result, "ours", "sync", op, 2.5)
        rows.append(["default", f"{OP_LABELS[op]}, sync", "≤ 2.5× the floor", *measured])
    for mode in MODES:
        for op in ("save_new", "save_rotation"):
            measured = _latency_target(result, "ours", mode, op, 3.0)
            rows.append(["default", f"{OP_LABELS[op]}, {MODES[mode]}", "≤ 3× the floor", *measured])
    for op in READS:
        measured = _latency_target(result, "ours-tuned", "sync", op, 2.0)
        rows.append(["tuned", f"{OP_LABELS[op]}, sync", "≤ 2.0× the floor", *measured])
    return rows


def targets_section(results, level="##") -> str:
    postgresql = [result for result in results if result["database"] == "postgresql"]
    if not postgresql:
        return f"{level} Targets\n\nPostgreSQL was not measured in this run: no targets to report."
    rows = targets(postgresql[0])
    met = sum(row[-1] == "met" for row in rows)
    return "\n\n".join(
        [
            f"{level} Targets",
            f"On PostgreSQL, {met} of {len(rows)} met. **default**: ours on Django's default database "
            "`OPTIONS`, what a user gets without tuning; **tuned**: ours on "
            f"`OPTIONS = {config.TUNED_OPTIONS!r}`. The floor is one prepared statement per call through "
            "psycopg (sync: `Connection`; async: `AsyncConnection`s). Latencies are p50; the figures are "
            "those of the PostgreSQL section.",
            table(["OPTIONS", "measure", "target", "measured", ""], rows),
        ]
    )


SCALING_COLUMNS = (*READS, "floor find_installation")


def scaling_table(results) -> str:
    rows = []
    for result in results:
        steps = result["steps"]
        for step in steps:
            rows.append(
                [
                    label(result),
                    f"{step['teams']:,}",
                    f"{step['installations']:,}",
                    f"{step['bots']:,}",
                    seconds(step["populate_s"]),
                    *(us(step["p50_us"][name]) for name in SCALING_COLUMNS),
                ]
            )
        first, last = steps[0], steps[-1]
        ratios = [ratio(last["p50_us"][name], first["p50_us"][name]) for name in SCALING_COLUMNS]
        rows.append(
            [
                label(result),
                f"last/first ({last['teams'] // first['teams']:,}× the teams)",
                "",
                "",
                "",
                *ratios,
            ]
        )
    headers = [
        "database",
        "teams",
        "installations",
        "bots",
        "population (this step)",
        *(OP_LABELS[op] for op in READS),
        "floor find_installation (reference)",
    ]
    return table(headers, rows)


# -- the whole report ----------------------------------------------------------------------------------


def markdown(run) -> str:
    facts = run["facts"] | {name: server for name, server in run["servers"].items()}
    facts |= {
        "date": run["date"],
        "command": f"`{run['command']}`",
        "options": run["options"],
        "wall time": seconds(run["wall_s"]),
    }
    parts = [
        "# Benchmark results",
        "Written by `make bench` ([benchmarks/](../benchmarks/README.md)); every number is measured in the "
        "run described here. Latencies are medians (p50) over all calls of all rounds, in microseconds. "
        "**floor**: one SQL statement per lookup through the raw driver on our tables (no ORM, no "
        "decryption), prepared where the driver prepares (each database's section names its drivers); "
        "**ours**: `DjangoInstallationStore` on Django's default database settings (on PostgreSQL also "
        "**ours, tuned**, with prepared statements, and **ours, thread hop**, the async path before the "
        "native one); **slack_sdk**: `SQLAlchemyInstallationStore` (sync) and "
        "`AsyncSQLAlchemyInstallationStore` (async).",
        "## Machine and run",
        table(["", "this run"], list(facts.items())),
    ]
    parts += [f"Skipped: {reason}" for reason in run["skipped"]]
    if run["main"]:
        parts.append(targets_section(run["main"]))
    for result in run["main"]:
        parts.append(database_section(result))
    if run["main"]:
        parts.append("![Latency per operation](images/benchmark-latency.png)")
    if run["scaling"]:
        parts += [
            "## Scaling: our store's uncached lookups as the data set grows",
            "Each step adds teams to the previous ones (same generator, tokens drawn from a few "
            "pre-encrypted ones), then refreshes the planner statistics (VACUUM ANALYZE; ANALYZE on SQLite; "
            "ANALYZE TABLE on MariaDB). Lookups draw uniformly from every team loaded so far; the floor's "
            "find_installation on the same keys is a reference for drift of the machine between steps. Each "
            "call runs its round's keys once untimed before it is timed on them, so that none pays the disk "
            "reads for the others where the data outgrows the server's cache (MariaDB's default buffer "
            f"pool). On PostgreSQL ours runs with the tuned `OPTIONS = {config.TUNED_OPTIONS!r}`.",
            scaling_table(run["scaling"]),
            "![p50 against the number of teams](images/benchmark-scaling.png)",
        ]
    return "\n\n".join(parts) + "\n"


def write(run, output: Path) -> list[Path]:
    output.mkdir(parents=True, exist_ok=True)
    (output / "images").mkdir(exist_ok=True)
    paths = [output / "benchmark-results.md"]
    paths[0].write_text(markdown(run))
    if run["main"]:
        paths.append(latency_chart(run["main"], output / "images" / "benchmark-latency.png"))
    if run["scaling"]:
        paths.append(scaling_chart(run["scaling"], output / "images" / "benchmark-scaling.png"))
    return paths


def today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# -- charts --------------------------------------------------------------------------------------------

BARS = (
    ("floor", "floor (raw driver)"),
    ("ours", "ours"),
    ("ours+locmem", "ours + locmem cache"),
    ("slack_sdk", "slack_sdk"),
)
COLORS = {"floor": "#9e9e9e", "ours": "#1565c0", "ours+locmem": "#64b5f6", "slack_sdk": "#ef6c00"}


def latency_chart(results, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    figure, axes = plt.subplots(len(results), 2, figsize=(14, 4.8 * len(results)), squeeze=False, sharey=True)
    width = 0.2
    for row, result in zip(axes, results, strict=True):
        for ax, mode in zip(row, MODES, strict=True):
            for n, (subject, name) in enumerate(BARS):
                values = [_p50(result, mode, subject, op) for op in OPS]
                xs = [i + (n - 1.5) * width for i in range(len(OPS))]
                bars = ax.bar(xs, [v or 0 for v in values], width, label=name, color=COLORS[subject])
                ax.bar_label(bars, [us(v) if v else "" for v in values], fontsize=6, rotation=90, padding=2)
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_xticks(range(len(OPS)), [OP_LABELS[op].replace(" (", "\n(") for op in OPS], fontsize=8)
            ax.set_ylabel("p50 latency (µs, log scale)")
            ax.set_title(f"{label(result)}, {MODES[mode]}")
            ax.grid(axis="y", which="both", alpha=0.3)
    axes[0][0].set_ylim(top=axes[0][0].get_ylim()[1] * 2)  # room for the labels of the tallest bars
    axes[0][0].legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def scaling_chart(results, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    figure, ax = plt.subplots(figsize=(11, 5))
    styles = {"postgresql": "-", "sqlite": "--", "mariadb": ":"}
    for result in results:
        teams = [step["teams"] for step in result["steps"]]
        for name, color in zip(SCALING_COLUMNS, ("#1565c0", "#2e7d32", "#c62828", "#9e9e9e"), strict=True):
            values = [step["p50_us"][name] for step in result["steps"]]
            name = OP_LABELS.get(name, f"{name} (reference)")
            ax.plot(
                teams,
                values,
                styles[result["database"]],
                marker="o",
                color=color,
                label=f"{label(result)}: {name}",
            )
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: _teams(value)))
    ax.set_ylim(bottom=0)
    ax.set_xlabel("teams in the data set (log scale)")
    ax.set_ylabel("p50 latency (µs)")
    ax.set_title("Our store's uncached lookups as the data set grows (p50)")
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the lines, not over them
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _teams(value) -> str:
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"
