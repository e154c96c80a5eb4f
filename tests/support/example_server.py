"""The example project as a real server process (daphne) for end-to-end tests, and the ways to reach it:
HTTP as Slack and a browser send it, and its database through `manage.py shell` in another process.
"""

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from slack_sdk.signature import SignatureVerifier

REPO = Path(__file__).resolve().parents[2]
# The Slack app the example server is configured as.
CLIENT_ID = "1111.2222"
CLIENT_SECRET = "test-client-secret"
BOT_SCOPES = "app_mentions:read,chat:write"
USER_SCOPES = "search:read"
# Port 0: daphne binds a free port and logs which, so no other process can take it in between.
DAPHNE = ["-m", "daphne", "-b", "127.0.0.1", "-p", "0", "example_project.asgi:application"]
DAPHNE_LISTENING = r"Listening on TCP address 127\.0\.0\.1:(\d+)"

# Environment variables that must not leak from the test run into the example's processes: our own
# settings' inputs, and proxies (the fake Slack is on 127.0.0.1; slack_sdk ignores NO_PROXY).
_PROXIES = {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"}
_OURS = ("DJANGO_", "EXAMPLE_DB_", "SLACK_")


def clean_environment(**variables: str) -> dict[str, str]:
    """os.environ without proxies or variables the example reads, plus `variables`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in _PROXIES and not name.startswith(_OURS)
    }
    env.update(PYTHONUNBUFFERED="1", **variables)
    return env


def run(args: list[str], *, env: dict[str, str], cwd: Path = REPO, timeout: float = 180) -> str:
    """Run a command to completion; its output (stdout and stderr), or an AssertionError showing it."""
    done = subprocess.run(
        args,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}"
    return done.stdout


def request(
    port: int, method: str, path: str, *, body: bytes = b"", headers: dict | None = None
) -> "Response":
    """One HTTP request to 127.0.0.1:`port`. http.client: no proxy and no redirect following, every
    Set-Cookie header visible."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return Response(response.status, response.headers, response.read().decode("utf-8"))
    finally:
        connection.close()


@dataclass
class Response:
    status: int
    headers: Message
    body: str


# Prints the rows of one workspace as JSON: ids, tokens (decrypted by the model instances: `values()` gives
# the stored form), expiry.
_DUMP_ROWS = """
import json
from django_slack_store.models import SlackBot, SlackInstallation
team_id = {team_id!r}
def dump(model, *names):
    rows = model.objects.filter(team_id=team_id).order_by("id")
    return [{{name: getattr(row, name) for name in names}} for row in rows]
print(json.dumps({{
    "installations": dump(SlackInstallation, "id", "user_id", "user_token"),
    "bots": dump(SlackBot, "id", "bot_token", "bot_refresh_token", "bot_token_expires_at"),
}}))
"""


class Server:
    """`args` (a server) in a process group of its own, its output in `log_path`, until `stop()` or the end
    of a `with` block. `port` is the one it reported (`listening`: a regex whose group 1 is the port), as it
    is told to bind port 0, so that no other process can take the port in between."""

    def __init__(
        self,
        args: list[str],
        *,
        env: dict[str, str],
        log_path: Path,
        cwd: Path = REPO,
        listening: str = DAPHNE_LISTENING,
    ):
        self.env = env
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                args,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its process group: workers (gunicorn's) are stopped with it
            )
        try:
            self.port = self._wait_until_listening(args, listening, timeout=60)
        except BaseException:
            self.stop()
            raise

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _wait_until_listening(self, args: list[str], listening: str, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(listening, self.output())
            if found:
                return int(found.group(1))
            if self.process.poll() is not None:
                raise AssertionError(f"{args} exited {self.process.returncode}:\n{self.output()}")
            time.sleep(0.05)
        raise AssertionError(f"{args} did not listen within {timeout} s:\n{self.output()}")

    def stop(self) -> None:
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(timeout=wait)
                return
            except ProcessLookupError:  # the group is gone already
                return
            except subprocess.TimeoutExpired:
                continue

    def output(self) -> str:
        """Everything the server printed so far (its log, with the example's own logger)."""
        return self.log_path.read_text(errors="replace")

    # -- HTTP ---------------------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, body: bytes = b"", headers: dict | None = None) -> Response:
        return request(self.port, method, path, body=body, headers=headers)

    def get(self, path: str, *, cookie: str | None = None) -> Response:
        return self.request("GET", path, headers={"Cookie": cookie} if cookie else {})

    def post_from_slack(self, request: tuple[str, str], *, signing_secret: str | None) -> Response:
        """POST /slack/events as Slack does: `request` is (body, content type), signed a moment ago (unsigned
        with `signing_secret=None`)."""
        body, content_type = request
        timestamp = str(int(time.time()))
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp}
        if signing_secret is not None:
            verifier = SignatureVerifier(signing_secret)
            headers["X-Slack-Signature"] = verifier.generate_signature(timestamp=timestamp, body=body)
        return self.request("POST", "/slack/events", body=body.encode("utf-8"), headers=headers)


class ExampleServer(Server):
    """`python -m daphne ... example_project.asgi:application` (the example project), with a look at its
    database."""

    def __init__(self, env: dict[str, str], log_path: Path):
        super().__init__([sys.executable, *DAPHNE], env=env, log_path=log_path)

    # -- the database, as the example project sees it ------------------------------------------------------

    def rows(self, team_id: str) -> dict:
        """{"installations": [...], "bots": [...]} stored for `team_id`, read by a `manage.py shell`."""
        code = _DUMP_ROWS.format(team_id=team_id)
        output = run([sys.executable, "manage.py", "shell", "-c", code], env=self.env, timeout=60)
        return json.loads(output.strip().splitlines()[-1])
