"""PgBouncer in transaction mode in front of the test PostgreSQL server, for DB_BACKEND=pgbouncer.

tests/settings.py calls `start()` once per test process: Debian's pgbouncer (`apt-get install pgbouncer`)
listens on a free 127.0.0.1 port and passes every database name (`*`) on to the real server, so Django's
`test_<name>` database and `postgres` are both reachable through it. Its config, log, pid file and Unix
socket live in a temporary directory. It stops when the process exits, or dies with it.
"""

import atexit
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_running = None


def running():
    """The PgBouncer that `start()` started in this process, or None."""
    return _running


def start(server_host, server_port, user, password):
    """Start PgBouncer in front of server_host:server_port (once per process) and return it."""
    global _running
    if _running is None:
        _running = PgBouncer(server_host, str(server_port), user, password)
        atexit.register(_running.stop)
    return _running


def _binary():
    # /usr/sbin is not on every non-root user's PATH.
    found = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not os.access(found, os.X_OK):
        raise RuntimeError("DB_BACKEND=pgbouncer needs Debian's pgbouncer: apt-get install pgbouncer")
    return found


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent():
    # Runs in the child after Popen switched users (a switch would reset it): if the test process dies
    # without running atexit (SIGKILL, a crash), the kernel sends pgbouncer SIGTERM. PR_SET_PDEATHSIG = 1.
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def _quoted(value):
    return '"' + value.replace('"', '""') + '"'


class PgBouncer:
    host = "127.0.0.1"

    def __init__(self, server_host, server_port, user, password):
        self.server_host, self.server_port = server_host, server_port
        self.user, self.password = user, password
        binary = _binary()
        self.directory = Path(tempfile.mkdtemp(prefix="dss-pgbouncer-"))
        self.log_path = self.directory / "pgbouncer.log"
        # PgBouncer refuses to run as root: then it runs as postgres (or nobody), owning its directory.
        run_as = {}
        if os.geteuid() == 0:
            account = _account("postgres") or _account("nobody")
            run_as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        # The port is free when probed; another process could take it before pgbouncer binds it, so retry.
        for _attempt in range(3):
            self.port = _free_port()
            self._write_config()
            if run_as:
                for path in [self.directory, *self.directory.iterdir()]:
                    os.chown(path, run_as["user"], run_as["group"])
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [binary, str(self.directory / "pgbouncer.ini")],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent,
                    **run_as,
                )
            if self._wait_until_listening(timeout=10):
                return
            self.stop(keep_log=True)
        raise RuntimeError(f"pgbouncer did not start: see its log, {self.log_path}:\n{self._log_tail()}")

    def _write_config(self):
        # trust: the client is not asked for a password. The auth_file still lists the user, with the
        # password pgbouncer gives the real server when that one asks for it.
        (self.directory / "users.txt").write_text(f"{_quoted(self.user)} {_quoted(self.password)}\n")
        os.chmod(self.directory / "users.txt", 0o600)
        (self.directory / "pgbouncer.ini").write_text(
            f"""\
[databases]
* = host={self.server_host} port={self.server_port}

[pgbouncer]
listen_addr = {self.host}
listen_port = {self.port}
unix_socket_dir = {self.directory}
pidfile = {self.directory / "pgbouncer.pid"}
auth_type = trust
auth_file = {self.directory / "users.txt"}
admin_users = {self.user}
pool_mode = transaction
"""
        )

    def _wait_until_listening(self, timeout):
        # The log tells pgbouncer's own TCP socket from another process's on that port: when it cannot bind
        # the port, pgbouncer warns "cannot listen on" and keeps running on the Unix socket alone.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            log = self.log_path.read_text(errors="replace")
            if f"cannot listen on {self.host}:{self.port}" in log:
                return False
            if f"listening on {self.host}:{self.port}" in log:
                try:
                    socket.create_connection((self.host, self.port), timeout=1).close()
                    return True
                except OSError:
                    pass
            time.sleep(0.05)
        return False

    def _log_tail(self):
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])

    def stop(self, keep_log=False):
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: immediate shutdown, every connection closed
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not keep_log:
            shutil.rmtree(self.directory, ignore_errors=True)

    def admin(self, command):
        """Run one command on PgBouncer's admin console (the `pgbouncer` database); its rows as dicts."""
        import psycopg
        from psycopg.rows import dict_row

        # The console speaks only the simple query protocol: psycopg uses it for a query without parameters.
        with psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            dbname="pgbouncer",
            autocommit=True,
            row_factory=dict_row,
        ) as connection:
            cursor = connection.execute(command)
            return cursor.fetchall() if cursor.description else []

    def close_server_connections(self, database):
        """Close PgBouncer's connections to `database` on the real server now, so that it can be dropped.
        KILL also holds new clients of that database until RESUME, which follows at once."""
        self.admin(f"KILL {database}")
        self.admin(f"RESUME {database}")

    def server_has_database(self, database):
        """Whether the real server, asked directly rather than through PgBouncer, has `database`."""
        import psycopg

        with psycopg.connect(
            host=self.server_host,
            port=self.server_port,
            user=self.user,
            password=self.password,
            dbname="postgres",
            autocommit=True,
        ) as connection:
            found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
            return found is not None


def _account(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None
