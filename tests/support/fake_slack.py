"""A fake Slack Web API: a real HTTP server on 127.0.0.1 that slack_sdk's clients reach over the network.

Nothing inside slack_sdk or Bolt is patched: point `WebClient(base_url=fake.base_url)` (or `AsyncWebClient`)
at it. It records every call and answers from `handlers`, a table keyed by API method name; a test (or a
later feature) that needs another method adds an entry, a function taking the `ApiCall` and returning the
JSON payload. Slack answers HTTP 200 with `{"ok": false, "error": ...}` for API errors, and so does this.

    with FakeSlack() as fake:
        fake.add_token("xoxb-test-bot-token-1", team_id="T0TEAM", user_id="U0BOT", bot_id="B0BOT")
        WebClient(base_url=fake.base_url).auth_test(token="xoxb-test-bot-token-1")
        assert [call.token for call in fake.calls_to("auth.test")] == ["xoxb-test-bot-token-1"]
"""

import base64
import binascii
import functools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

API_PREFIX = "/api/"


@dataclass(frozen=True)
class ApiCall:
    """One request the fake received. `params` merges the query string and the form or JSON body; client
    credentials sent with HTTP Basic auth (as slack_sdk does for `oauth.v2.access`) appear there as
    `client_id` and `client_secret`, the way Slack accepts them either way."""

    method: str
    token: str | None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TokenOwner:
    """Who a token belongs to, as `auth.test` reports it."""

    team_id: str | None
    user_id: str
    enterprise_id: str | None = None
    bot_id: str | None = None  # set for bot tokens
    is_enterprise_install: bool = False


@dataclass(frozen=True)
class TokenRefresh:
    """What `oauth.v2.access` with `grant_type=refresh_token` hands out for one refresh token."""

    access_token: str
    refresh_token: str | None
    expires_in: int
    token_type: str


@dataclass(frozen=True)
class OAuthGrant:
    """What `oauth.v2.access` hands out for one authorization `code`: a workspace install of app `client_id`
    by `user_id`, with a bot token and, when `user_token` is set, the installer's user token. With
    `bot_refresh_token` (an app with token rotation on) the bot token expires in `bot_expires_in` seconds;
    make the refresh token exchangeable with `add_refresh_token`."""

    client_id: str
    team_id: str
    user_id: str
    bot_token: str
    bot_id: str
    bot_user_id: str
    team_name: str = "Test Team"
    app_id: str = "A0TESTAPP"
    bot_scopes: tuple[str, ...] = ("app_mentions:read", "chat:write")
    user_token: str | None = None
    user_scopes: tuple[str, ...] = ()
    bot_refresh_token: str | None = None
    bot_expires_in: int = 43200


Handler = Callable[[ApiCall], dict[str, Any]]


class FakeSlack:
    """The fake API server. Start and stop it with `with`, or `start()` / `stop()`."""

    def __init__(self):
        self._lock = threading.RLock()  # RLock: a handler may call add_token() while a request holds it
        self._calls: list[ApiCall] = []
        self._tokens: dict[str, TokenOwner] = {}
        self._revoked: set[str] = set()
        self._refreshes: dict[str, TokenRefresh] = {}
        self._used_refresh_tokens: set[str] = set()
        self._codes: dict[str, OAuthGrant] = {}
        self._errors: dict[tuple[str, str | None], tuple[str, int]] = {}
        self._pages: dict[tuple[str, str | None], tuple[str, int]] = {}
        self._delays: dict[str, float] = {}
        self._rate_limits: dict[tuple[str, str | None], list[int]] = {}  # [retry_after, calls left]
        self._in_flight: dict[str, int] = {}
        self._max_in_flight: dict[str, int] = {}
        self._stopping = threading.Event()  # ends the delays: the clients have gone
        self.handlers: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "auth.revoke": self._auth_revoke,
            "chat.postMessage": self._chat_post_message,
            "oauth.v2.access": self._oauth_v2_access,
        }
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _RequestHandler)
        self._server.fake = self
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What `WebClient(base_url=...)` takes: slack_sdk appends the method name to it."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{API_PREFIX}"

    def start(self) -> "FakeSlack":
        # A short poll interval: stop() waits up to one interval for the serving loop to notice.
        serve = functools.partial(self._server.serve_forever, poll_interval=0.01)
        self._thread = threading.Thread(target=serve, name="fake-slack", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> "FakeSlack":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- what Slack knows ---------------------------------------------------------------------------------

    def add_token(
        self,
        token: str,
        *,
        team_id: str | None,
        user_id: str,
        enterprise_id: str | None = None,
        bot_id: str | None = None,
        is_enterprise_install: bool = False,
    ) -> None:
        """Make `token` valid, belonging to the given ids (a bot token when `bot_id` is given)."""
        owner = TokenOwner(team_id, user_id, enterprise_id, bot_id, is_enterprise_install)
        with self._lock:
            self._tokens[token] = owner
            self._revoked.discard(token)

    def add_refresh_token(
        self,
        refresh_token: str,
        *,
        access_token: str,
        next_refresh_token: str | None = None,
        expires_in: int = 43200,
        token_type: str = "bot",
    ) -> None:
        """Make `refresh_token` exchangeable, once, for `access_token` (register that one with `add_token`
        too): as Slack does, a refresh token that has been used is revoked."""
        with self._lock:
            refresh = TokenRefresh(access_token, next_refresh_token, expires_in, token_type)
            self._refreshes[refresh_token] = refresh

    def is_used(self, refresh_token: str) -> bool:
        """Whether `refresh_token` has been exchanged: Slack has revoked it."""
        with self._lock:
            return refresh_token in self._used_refresh_tokens

    def refreshes_with(self, refresh_token: str) -> int:
        """How many calls of `oauth.v2.access` tried `refresh_token`, whatever they were answered."""
        return sum(
            1
            for call in self.calls_to("oauth.v2.access")
            if call.params.get("grant_type") == "refresh_token"
            and call.params.get("refresh_token") == refresh_token
        )

    def add_oauth_code(self, code: str, grant: OAuthGrant) -> None:
        """Make `code` exchangeable, once, for `grant` (its tokens become valid when it is exchanged)."""
        with self._lock:
            self._codes[code] = grant

    def is_revoked(self, token: str) -> bool:
        with self._lock:
            return token in self._revoked

    def add_error(self, method: str, token: str | None, error: str, *, status: int = 200) -> None:
        """Make every call of `method` with `token` fail with Slack's `error`, as HTTP `status` (Slack
        answers `ratelimited` with 429)."""
        with self._lock:
            self._errors[(method, token)] = (error, status)

    def add_page(self, method: str, token: str | None, html: str, *, status: int = 502) -> None:
        """Make every call of `method` with `token` answered by `html` instead of JSON, as HTTP `status`:
        what a proxy in front of Slack sends when it fails."""
        with self._lock:
            self._pages[(method, token)] = (html, status)

    def add_delay(self, method: str, seconds: float) -> None:
        """Make every call of `method` wait `seconds` before it is answered: a Slack that hangs. `stop()` ends
        the wait, without an answer."""
        with self._lock:
            self._delays[method] = seconds

    # -- what Slack was asked -----------------------------------------------------------------------------

    @property
    def calls(self) -> list[ApiCall]:
        """Every call so far, oldest first (a copy)."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[ApiCall]:
        return [call for call in self.calls if call.method == method]

    def handle(self, call: ApiCall) -> dict[str, Any] | None:
        """Record `call` and answer it (the HTTP handler's entry point); None when add_page() said a proxy
        answers it instead: Slack never sees it."""
        with self._lock:
            self._calls.append(call)
            if (call.method, call.token) in self._pages:
                return None
            if (call.method, call.token) in self._errors:
                return {"ok": False, "error": self._errors[call.method, call.token][0]}
            handler = self.handlers.get(call.method)
            if handler is None:
                return {"ok": False, "error": "unknown_method"}
            return handler(call)

    def page_of(self, call: ApiCall) -> tuple[str, int]:
        """The page and HTTP status add_page() said to answer `call` with."""
        with self._lock:
            return self._pages[call.method, call.token]

    def hold(self, call: ApiCall) -> bool:
        """Wait as add_delay() said, outside the lock; False when stop() ended the wait: answer nothing."""
        with self._lock:
            seconds = self._delays.get(call.method, 0)
        return not self._stopping.wait(seconds) if seconds else True

    def status_of(self, call: ApiCall) -> int:
        """The HTTP status of the answer to `call`: 200, as Slack answers API errors, unless add_error()
        said otherwise."""
        with self._lock:
            return self._errors.get((call.method, call.token), (None, 200))[1]

    def add_rate_limit(self, method: str, token: str | None, *, retry_after: int = 1, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with `token` as Slack answers a rate-limited call: HTTP
        429, error `ratelimited`, and a `Retry-After: <retry_after>` header. The calls after are answered
        as usual."""
        with self._lock:
            self._rate_limits[(method, token)] = [retry_after, times]

    def max_in_flight(self, method: str) -> int:
        """The most calls of `method` the fake was answering at once (received, not yet answered)."""
        with self._lock:
            return self._max_in_flight.get(method, 0)

    def rate_limit(self, call: ApiCall) -> int | None:
        """Record `call` and, when add_rate_limit() said so, the Retry-After to answer it with (429)."""
        with self._lock:
            limit = self._rate_limits.get((call.method, call.token))
            if not limit or limit[1] <= 0:
                return None
            self._calls.append(call)
            limit[1] -= 1
            return limit[0]

    def enter(self, call: ApiCall) -> None:
        with self._lock:
            now = self._in_flight[call.method] = self._in_flight.get(call.method, 0) + 1
            self._max_in_flight[call.method] = max(self._max_in_flight.get(call.method, 0), now)

    def leave(self, call: ApiCall) -> None:
        with self._lock:
            self._in_flight[call.method] -= 1

    # -- API methods --------------------------------------------------------------------------------------

    def _authenticate(self, call: ApiCall) -> tuple[TokenOwner | None, dict[str, Any] | None]:
        """The caller's token owner, or Slack's error payload for a missing, unknown or revoked token."""
        if not call.token:
            return None, {"ok": False, "error": "not_authed"}
        if call.token in self._revoked:
            return None, {"ok": False, "error": "token_revoked"}
        owner = self._tokens.get(call.token)
        if owner is None:
            return None, {"ok": False, "error": "invalid_auth"}
        return owner, None

    def _auth_test(self, call: ApiCall) -> dict[str, Any]:
        owner, error = self._authenticate(call)
        if error:
            return error
        payload = {
            "ok": True,
            "url": "https://fake-slack.test/",
            "team": f"Team {owner.team_id or owner.enterprise_id}",
            "user": f"user {owner.user_id}",
            "team_id": owner.team_id,
            "user_id": owner.user_id,
            "bot_id": owner.bot_id,
            "enterprise_id": owner.enterprise_id,
            "is_enterprise_install": owner.is_enterprise_install,
        }
        return {name: value for name, value in payload.items() if value is not None}

    def _auth_revoke(self, call: ApiCall) -> dict[str, Any]:
        _, error = self._authenticate(call)
        if error:
            return error
        if str(call.params.get("test", "")).lower() in ("1", "true"):
            return {"ok": True, "revoked": False}  # Slack's dry run
        self._revoked.add(call.token)
        return {"ok": True, "revoked": True}

    def _chat_post_message(self, call: ApiCall) -> dict[str, Any]:
        owner, error = self._authenticate(call)
        if error:
            return error
        if not call.params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        ts = f"{time.time():.6f}"
        message = {"type": "message", "text": call.params.get("text", ""), "user": owner.user_id, "ts": ts}
        if owner.bot_id:
            message["bot_id"] = owner.bot_id
        return {"ok": True, "channel": call.params["channel"], "ts": ts, "message": message}

    def _oauth_v2_access(self, call: ApiCall) -> dict[str, Any]:
        if not call.params.get("client_id"):
            return {"ok": False, "error": "invalid_client_id"}
        if not call.params.get("client_secret"):
            return {"ok": False, "error": "bad_client_secret"}
        if call.params.get("grant_type") == "refresh_token":
            return self._refresh_token(call)
        return self._exchange_code(call)

    def _exchange_code(self, call: ApiCall) -> dict[str, Any]:
        """An install: the authorization `code` Slack gave the browser, for the tokens (Slack's v2 shape)."""
        grant = self._codes.get(call.params.get("code"))
        if grant is None:
            return {"ok": False, "error": "invalid_code"}
        if call.params["client_id"] != grant.client_id:
            return {"ok": False, "error": "invalid_client_id"}
        del self._codes[call.params["code"]]  # a code is good for one exchange
        self.add_token(grant.bot_token, team_id=grant.team_id, user_id=grant.bot_user_id, bot_id=grant.bot_id)
        installer: dict[str, Any] = {"id": grant.user_id}
        if grant.user_token:
            self.add_token(grant.user_token, team_id=grant.team_id, user_id=grant.user_id)
            installer.update(
                scope=",".join(grant.user_scopes), access_token=grant.user_token, token_type="user"
            )
        rotation = {}
        if grant.bot_refresh_token:
            rotation = {"refresh_token": grant.bot_refresh_token, "expires_in": grant.bot_expires_in}
        return {
            "ok": True,
            "app_id": grant.app_id,
            "authed_user": installer,
            "scope": ",".join(grant.bot_scopes),
            "token_type": "bot",
            "access_token": grant.bot_token,
            "bot_user_id": grant.bot_user_id,
            "team": {"id": grant.team_id, "name": grant.team_name},
            "enterprise": None,
            "is_enterprise_install": False,
            **rotation,
        }

    def _refresh_token(self, call: ApiCall) -> dict[str, Any]:
        refresh = self._refreshes.pop(call.params.get("refresh_token"), None)
        if refresh is None:
            return {"ok": False, "error": "invalid_refresh_token"}
        self._used_refresh_tokens.add(call.params["refresh_token"])
        payload = {
            "ok": True,
            "access_token": refresh.access_token,
            "refresh_token": refresh.refresh_token,
            "expires_in": refresh.expires_in,
            "token_type": refresh.token_type,
        }
        owner = self._tokens.get(refresh.access_token)
        if owner is not None:
            payload["team"] = {"id": owner.team_id} if owner.team_id else None
            payload["enterprise"] = {"id": owner.enterprise_id} if owner.enterprise_id else None
            payload["is_enterprise_install"] = owner.is_enterprise_install
            if owner.bot_id:
                payload["bot_user_id"] = owner.user_id
        return payload


class _RequestHandler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer  # with a `fake` attribute

    def do_GET(self):
        self._answer()

    def do_POST(self):
        self._answer()

    def _answer(self):
        url = urlsplit(self.path)
        if not url.path.startswith(API_PREFIX):
            self._send(404, {"ok": False, "error": "not_found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        params: dict[str, Any] = dict(parse_qsl(url.query, keep_blank_values=True))
        if body and self.headers.get_content_type() == "application/json":
            params.update(json.loads(body))
        elif body:
            params.update(parse_qsl(body, keep_blank_values=True))
        token = params.pop("token", None)
        scheme, _, credentials = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "bearer":
            token = credentials
        elif scheme.lower() == "basic":
            params.update(_client_credentials(credentials))
        call = ApiCall(method=url.path[len(API_PREFIX) :], token=token, params=params)
        fake = self.server.fake
        fake.enter(call)
        answered = False

        def answer(*args, **kwargs):
            # Out of flight before the answer leaves: a client may send its next call as soon as it has it.
            nonlocal answered
            fake.leave(call)
            answered = True
            self._send(*args, **kwargs)

        try:
            retry_after = fake.rate_limit(call)
            if retry_after is not None:
                answer(429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": str(retry_after)})
                return
            payload = fake.handle(call)
            if not fake.hold(call):
                return
            if payload is None:
                html, status = fake.page_of(call)
                answer(status, html, "text/html")
            else:
                answer(fake.status_of(call), payload)
        finally:
            if not answered:
                fake.leave(call)

    def _send(
        self,
        status: int,
        payload: dict[str, Any] | str,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ):
        text = payload if isinstance(payload, str) else json.dumps(payload)
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        pass  # keep test output quiet; the calls are recorded instead


def _client_credentials(credentials: str) -> dict[str, str]:
    try:
        client_id, _, client_secret = base64.b64decode(credentials).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return {}
    return {"client_id": client_id, "client_secret": client_secret}
