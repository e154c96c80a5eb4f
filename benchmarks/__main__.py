"""`python -m benchmarks`: DjangoInstallationStore beside slack_sdk's SQLAlchemy stores and a raw floor.

This process parses the options, runs one worker process per database and phase (benchmarks/worker.py),
prints each database's tables as it finishes, then writes the report and the charts. See README.md here.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from . import config, report

DEFAULTS = {"teams": 10_000, "rounds": 7, "batch": 300, "seconds": 1.0}
QUICK = {"teams": 10_000, "rounds": 2, "batch": 100, "seconds": 0.3}
SCALING_TEAMS = "1000,10000,100000,1000000"


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure django_slack_store's DjangoInstallationStore beside slack_sdk's SQLAlchemy "
        "stores and a raw-driver floor, on SQLite, PostgreSQL and MariaDB, and write "
        "docs/benchmark-results.md with charts.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a short run: {QUICK['rounds']} rounds of {QUICK['batch']} calls, {QUICK['seconds']} s "
        "concurrent windows, no scaling run; written to benchmarks/.data/quick/ unless --output is given",
    )
    parser.add_argument(
        "--databases",
        default=",".join(config.DATABASES),
        help=f"comma-separated, of {', '.join(config.DATABASES)} (default: all; PostgreSQL and MariaDB are "
        "skipped, with a message, when they do not answer on BENCH_PG_HOST:BENCH_PG_PORT and "
        "BENCH_MARIADB_HOST:BENCH_MARIADB_PORT)",
    )
    parser.add_argument("--teams", type=int, help=f"teams in the data set (default {DEFAULTS['teams']:,})")
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"interleaved rounds (default {DEFAULTS['rounds']}, --quick {QUICK['rounds']})",
    )
    parser.add_argument(
        "--batch",
        type=int,
        help=f"calls per store and operation in a round (default {DEFAULTS['batch']}, "
        f"--quick {QUICK['batch']})",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        help="length of each round's window of 64 concurrent lookups, per store and lookup "
        f"(default {DEFAULTS['seconds']}, --quick {QUICK['seconds']})",
    )
    parser.add_argument(
        "--scaling",
        action=argparse.BooleanOptionalAction,
        help="also measure our store's lookups at growing data set sizes (default: on, off with --quick)",
    )
    parser.add_argument(
        "--scaling-only", action="store_true", help="run only the scaling measurement (implies --scaling)"
    )
    parser.add_argument(
        "--scaling-teams",
        default=SCALING_TEAMS,
        help=f"comma-separated data set sizes of the scaling run, in teams (default {SCALING_TEAMS})",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="where benchmark-results.md and images/benchmark-*.png go "
        "(default docs/; with --quick, benchmarks/.data/quick/)",
    )
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else DEFAULTS
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    if unknown := set(args.databases) - set(config.DATABASES):
        parser.error(
            f"unknown database(s): {', '.join(sorted(unknown))} (choose from {', '.join(config.DATABASES)})"
        )
    if args.scaling is None:
        args.scaling = not args.quick
    args.scaling = args.scaling or args.scaling_only
    args.scaling_teams = [int(n.replace("_", "")) for n in args.scaling_teams.split(",")]
    if args.output is None:
        args.output = config.DATA_DIR / "quick" if args.quick else config.REPO_DIR / "docs"
    return args


def run_worker(database, phase, args, run_id) -> dict:
    result = config.DATA_DIR / f"{phase}-{database}.json"
    result.unlink(missing_ok=True)
    options = {
        "database": database,
        "phase": phase,
        "teams": args.teams,
        "rounds": args.rounds,
        "batch": args.batch,
        "seconds": args.seconds,
        "scaling_teams": args.scaling_teams,
        "redis_prefix": f"dss-bench-{run_id}",
        "result": str(result),
    }
    title = {"main": "", "scaling": ": scaling"}[phase]
    print(f"\n== {config.LABELS[database]}{title} ==", flush=True)
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.worker", json.dumps(options)], cwd=config.REPO_DIR
    )
    if completed.returncode:
        raise SystemExit(
            f"The {config.LABELS[database]} {phase} run failed (exit status {completed.returncode})."
        )
    return json.loads(result.read_text())


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    config.DATA_DIR.mkdir(parents=True, exist_ok=True)
    run_id = f"{os.getpid()}-{int(time.time())}"
    run = {"main": [], "scaling": [], "skipped": [], "servers": {}, "facts": report.machine_facts()}
    databases = []
    for database in args.databases:
        server = config.SERVERS.get(database)
        if server and not server.answers():
            reason = (
                f"{config.LABELS[database]}: not reachable on {server.where()} "
                f"(set {server.prefix}_HOST / {server.prefix}_PORT)"
            )
            print(f"skipped: {reason}", flush=True)
            run["skipped"].append(reason)
        else:
            databases.append(database)
    if not args.scaling_only:
        for database in databases:
            result = run_worker(database, "main", args, run_id)
            run["main"].append(result)
            run["servers"][config.LABELS[database]] = result["server"]
            if result.get("redis"):
                run["servers"]["Redis"] = result["redis"]
            print("\n" + report.database_section(result, level="###"), flush=True)
        if run["main"]:
            print("\n" + report.targets_section(run["main"], level="###"), flush=True)
    if args.scaling:
        for database in databases:
            result = run_worker(database, "scaling", args, run_id)
            run["scaling"].append(result)
            run["servers"][config.LABELS[database]] = result["server"]
        print("\n" + report.scaling_table(run["scaling"]), flush=True)
    scaling = (
        f"scaling at {', '.join(f'{n:,}' for n in args.scaling_teams)} teams"
        if args.scaling
        else "no scaling"
    )
    run |= {
        "date": report.today(),
        "command": shlex.join(["python", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)]),
        "options": f"{args.teams:,} teams, {args.rounds} rounds of {args.batch} calls per store and "
        f"operation, {args.seconds} s windows of 64 concurrent lookups, {scaling}",
        "wall_s": time.perf_counter() - started,
    }
    (config.DATA_DIR / "results.json").write_text(json.dumps(run, indent=1))
    paths = report.write(run, args.output)
    print(f"\nWall time {report.seconds(run['wall_s'])}. Wrote:", *(f"  {p}" for p in paths), sep="\n")


if __name__ == "__main__":
    main()
