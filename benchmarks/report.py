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
PACKAGES = ("Django", "slack_sdk", "SQLAlchemy", "psycopg", "aiosqlite", "asgiref", "cryptography", "redis")


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


def latency_table(result) -> str:
    rows = []
    for mode in MODES:
        for op in OPS:
            floor, ours, sdk = (_p50(result, mode, s, op) for s in ("floor", "ours", "slack_sdk"))
            queries = result["queries"].get(op, "—") if mode == "sync" else "—"
            rows.append(
                [
                    OP_LABELS[op],
                    MODES[mode],
                    us(floor),
                    us(ours),
                    us(sdk),
                    ratio(ours, floor),
                    ratio(ours, sdk),
                    queries,
                ]
            )
    headers = [
        "operation",
        "mode",
        "floor",
        "ours",
        "slack_sdk",
        "ours/floor",
        "ours/slack_sdk",
        "SQL statements",
    ]
    return table(headers, rows)


def concurrency_table(result) -> str:
    concurrent = result["concurrent"]
    ours = concurrent.get("ours", {}).get("lookups_per_s")
    names = {
        "ours": "ours (async_ API)",
        "slack_sdk": "AsyncSQLAlchemyInstallationStore",
        "floor": "raw async floor",
    }
    rows = [
        [names[name], f"{c['lookups_per_s']:,.0f}", ratio(ours, c["lookups_per_s"]), f"{c['max_lag_ms']:.1f}"]
        for name, c in sorted(concurrent.items(), key=lambda item: list(names).index(item[0]))
    ]
    return table(["store", "lookups/s", "ours/this", "ticker max lag (ms)"], rows)


def cache_table(result) -> str:
    rows = []
    for mode in MODES:
        for op in READS:
            values = [_p50(result, mode, s, op) for s in ("ours", "ours+locmem", "ours+redis")]
            rows.append([OP_LABELS[op], MODES[mode], *map(us, values), "—"])
    dict_copy = us(_p50(result, "sync", "dict", "find_installation"))
    hop = us(_p50(result, "async", "sync_to_async", "hop"))
    rows.append(["baseline: a dict lookup + copy.copy of an Installation", "sync", "—", "—", "—", dict_copy])
    rows.append(["baseline: await sync_to_async(noop)(), the hop", "async", "—", "—", "—", hop])
    return table(["lookup", "mode", "ours, no cache", "ours + locmem", "ours + redis", "baseline"], rows)


def django_options(result) -> str:
    """What ours ran with: the database OPTIONS docs/performance.md recommends, where there are any."""
    options = config.django_database(result["database"]).get("OPTIONS")
    if not options:
        return "Ours runs on Django's default database settings."
    return f"Ours runs with Django's database `OPTIONS = {options!r}` (docs/performance.md)."


def database_section(result, level="##") -> str:
    pop = result["populate_s"]
    queries = result["queries"]
    hits = ", ".join(f"{k.split(' ')[0]}: {v}" for k, v in queries.items() if k.endswith(" hit"))
    redis = f"Redis {result['redis']}" if result.get("redis") else "Redis was not reachable: no redis numbers"
    calls = result["calls"].get("sync|ours+locmem|find_installation", 0) * len(READS)
    misses = ", ".join(f"{name}: {count:,}" for name, count in result.get("cache_misses", {}).items())
    parts = [
        f"{level} {label(result)}",
        f"{result['server']}. Data set: {result['teams']:,} teams ({result['keys']:,} lookup keys): "
        f"{result['installations']:,} installations and {result['bots']:,} bots, written to our tables "
        f"in {pop['ours']:.1f} s (after {pop['generate']:.1f} s generating and encrypting) and to "
        f"slack_sdk's in {pop['slack_sdk']:.1f} s. {django_options(result)}",
        f"{level}# Latency (µs, p50)",
        latency_table(result),
        "SQL statements: of one call of ours, counted with Django's CaptureQueriesContext (BEGIN and COMMIT "
        "are not statements there).",
        f"{level}# 64 concurrent lookups (asyncio tasks sharing one store instance)",
        concurrency_table(result),
        "find_installation for the same keys, in a window per round (the median round is shown). Ours runs "
        "each `async_` call in asgiref's thread-sensitive executor: one thread, so one database connection. "
        "AsyncSQLAlchemyInstallationStore uses its engine's default pool (5 connections + 10 overflow); the "
        f"floor shares {config.FLOOR_POOL_SIZE} connections among the tasks through a queue. The ticker is a "
        "task that sleeps 1 ms in a loop: its largest lateness over all windows is how long the event loop "
        "was kept busy.",
        f"{level}# Cache (µs, p50: hits, after the same keys were looked up once)",
        cache_table(result),
        f"{redis}. SQL statements of a cache hit (sync find_installation): {hits or '—'}. SQL statements "
        f"during the {calls:,} timed sync lookups of each cached store (a miss runs one): {misses or '—'}.",
    ]
    return "\n\n".join(parts)


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
        "**floor**: one prepared SQL statement per lookup through the raw driver on our tables (no ORM, no "
        "decryption); "
        "**ours**: `DjangoInstallationStore`; **slack_sdk**: `SQLAlchemyInstallationStore` (sync) and "
        "`AsyncSQLAlchemyInstallationStore` (async).",
        "## Machine and run",
        table(["", "this run"], list(facts.items())),
    ]
    parts += [f"Skipped: {reason}" for reason in run["skipped"]]
    for result in run["main"]:
        parts.append(database_section(result))
    if run["main"]:
        parts.append("![Latency per operation](images/benchmark-latency.png)")
    if run["scaling"]:
        parts += [
            "## Scaling: our store's uncached lookups as the data set grows",
            "Each step adds teams to the previous ones (same generator, tokens drawn from a few "
            "pre-encrypted ones), then refreshes the planner statistics (VACUUM ANALYZE; ANALYZE on SQLite). "
            "Lookups draw uniformly from every team loaded so far; the floor's find_installation on the same "
            "keys is a reference for drift of the machine between steps.",
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
    styles = {"postgresql": "-", "sqlite": "--"}
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
