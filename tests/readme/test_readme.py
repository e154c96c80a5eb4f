"""README.md's "Use it in your project", followed literally: `django-admin startproject`, the README's own
snippets applied to it, its commands run, and the project served by daphne (ASGI) and gunicorn (WSGI).

The snippets are read from README.md at test time, found by the `<!-- readme-test VARIANTS ACTION [FILE] -->`
comment on the line before each fence, so the README and what is tested cannot drift apart:

- VARIANTS: `asgi`, `wsgi` or `asgi+wsgi`, the variants the snippet belongs to;
- ACTION: `install` (the pip line), `create` (a new FILE), `replace` (a FILE startproject made), `append`
  (added at the end of FILE), `run` (commands, in order) or `serve` (the server's command).

The test adds to the README only what a test server needs: a loopback port the OS picks, and production's
DEBUG = False (so static files can only come from collectstatic and WhiteNoise) with 127.0.0.1 allowed.
"""

import ast
import importlib.metadata
import re
import shlex
import sys
from pathlib import Path

import django
import pytest

import django_slack_store
from tests.support.example_server import DAPHNE_LISTENING, REPO, Server, clean_environment, run

pytestmark = pytest.mark.readme

README = REPO / "README.md"
MARKER = re.compile(r"^(\s*)<!-- readme-test (\S+) (\w+)(?: (\S+))? -->$")
ACTIONS = {"install", "create", "replace", "append", "run", "serve"}
VARIANTS = ["asgi", "wsgi"]
# Set in the server's environment, so the test also proves that settings.py reads it from there.
SIGNING_SECRET = "readme-test-signing-secret"
# How each server is told to listen on a port the OS picks, and how it then says which.
SERVERS = {
    "daphne": (["-b", "127.0.0.1", "-p", "0"], DAPHNE_LISTENING),
    "gunicorn": (["--bind", "127.0.0.1:0"], r"Listening at: http://127\.0\.0\.1:(\d+)"),
}


def all_snippets():
    """[(variants, action, file, text)] of the README's marked snippets, in the README's order."""
    lines = README.read_text().splitlines()
    found = []
    for number, line in enumerate(lines):
        marker = MARKER.match(line)
        if not marker:
            continue
        indent, variants, action, path = marker.groups()
        fence = lines[number + 1]
        assert fence.startswith(f"{indent}```"), f"README.md:{number + 1}: no code fence after the marker"
        end = lines.index(f"{indent}```", number + 2)
        body = [text.removeprefix(indent) for text in lines[number + 2 : end]]
        found.append((set(variants.split("+")), action, path, "\n".join(body) + "\n"))
    return found


def snippets(variant):
    """[(action, file, text)] of the README's snippets for `variant`, in the README's order."""
    return [(action, path, text) for variants, action, path, text in all_snippets() if variant in variants]


def commands(text):
    """The `$ ` lines of a console snippet, split as a shell would (comments dropped)."""
    return [shlex.split(line[2:], comments=True) for line in text.splitlines() if line.startswith("$ ")]


def distribution(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def required_distributions(python_snippets, server):
    """The distributions the snippets need: those of the modules they import and of the dotted paths they
    name (MIDDLEWARE's entries), and the server's; Django, which startproject needs anyway, aside."""
    providers = importlib.metadata.packages_distributions()
    modules = set()
    for text in python_snippets:
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules.add(node.module)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", node.value):
                    modules.add(node.value)
    needed = {server}
    for module in modules:
        top = module.split(".")[0]
        if top in sys.stdlib_module_names:
            continue
        assert top in providers, f"the README uses {module}, which no installed distribution provides"
        needed.update(providers[top])
    return {distribution(name) for name in needed} - {"django"}


def installed_by(pip_line):
    """The distributions `pip install ...` names; a path (the checkout) names the directory's project."""
    (args,) = commands(pip_line)
    assert args[:2] == ["pip", "install"], args
    return {distribution(Path(arg).name) for arg in args[2:] if not arg.startswith("-")}


def test_the_readme_marks_every_snippet_of_its_project_section():
    """A snippet left unmarked, or marked wrong, would silently drop out of the test below."""
    for variants, action, path, _ in all_snippets():
        assert variants <= set(VARIANTS) and action in ACTIONS, (variants, action, path)
        assert (path is None) == (action in {"install", "run", "serve"}), (action, path)
    text = README.read_text()
    section = text[text.index("## Use it in your project") :]
    section = section[: section.index("\n## ", 1)]
    unmarked = re.findall(r"^(?!\s*<!-- readme-test ).*\n\s*```python$", section, flags=re.MULTILINE)
    assert not unmarked, unmarked
    for variant in VARIANTS:
        found = snippets(variant)
        actions = [action for action, _, _ in found]
        assert actions.count("install") == 1 and actions.count("serve") == 1, (variant, actions)
        files = {path for action, path, _ in found if path}
        assert files == {
            "mysite/settings.py",
            "mysite/slack_app.py",
            "mysite/slack_views.py",
            "mysite/urls.py",
        }


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_new_project_built_from_the_readme_serves_slack_and_the_admin(variant, tmp_path):
    found = snippets(variant)
    env = clean_environment()  # no SLACK_* variables: the settings' placeholders must do

    run([sys.executable, "-m", "django", "startproject", "mysite"], cwd=tmp_path, env=env)
    project = tmp_path / "mysite"
    python_snippets = []
    for action, path, text in found:
        if action not in {"create", "replace", "append"}:
            continue
        target = project / path
        if action == "create":
            assert not target.exists(), f"{path} is not new: startproject made it"
            target.write_text(text)
        elif action == "replace":
            assert target.exists(), f"{path} is not startproject's"
            target.write_text(text)
        else:
            target.write_text(target.read_text() + "\n" + text)
        python_snippets.append(text)

    (serve,) = [commands(text)[0] for action, _, text in found if action == "serve"]
    (pip_line,) = [text for action, _, text in found if action == "install"]
    missing = required_distributions(python_snippets, serve[0]) - installed_by(pip_line)
    assert not missing, f"the README's pip line for {variant} does not install {sorted(missing)}"

    # What the test adds: production's DEBUG, and the host it requests.
    settings = project / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + '\nDEBUG = False\nALLOWED_HOSTS = ["127.0.0.1"]\n')

    for action, _, text in found:
        if action == "run":
            for args in commands(text):
                assert args[0] == "python", args
                run([sys.executable, *args[1:]], cwd=project, env=env)

    program, *arguments = serve
    bind, listening = SERVERS[program]
    # HOME: gunicorn 27 puts its control socket in ~/.gunicorn/, which concurrent runs would share.
    server_env = clean_environment(SLACK_SIGNING_SECRET=SIGNING_SECRET, HOME=str(tmp_path))
    with Server(
        [sys.executable, "-m", program, *bind, *arguments],
        cwd=project,
        env=server_env,
        log_path=tmp_path / f"{program}.log",
        listening=listening,
    ) as server:
        # The admin's styling: Django's stylesheet and the store's, collected and served by WhiteNoise.
        login = server.get("/admin/login/")
        assert login.status == 200, login
        assert 'href="/static/admin/css/base.css"' in login.body
        stylesheets = {
            "/static/admin/css/base.css": Path(django.__file__).parent
            / "contrib/admin/static/admin/css/base.css",
            "/static/django_slack_store/admin.css": Path(django_slack_store.__file__).parent
            / "static/django_slack_store/admin.css",
        }
        for url, source in stylesheets.items():
            response = server.get(url)
            assert response.status == 200, (url, response.status)
            assert response.headers.get_content_type() == "text/css", (url, response.headers)
            assert response.body == source.read_text(), url

        # "Add to Slack": the OAuth state, stored by DjangoOAuthStateStore and set as a cookie.
        install = server.get("/slack/install")
        assert install.status == 200, install
        cookies = install.headers.get_all("Set-Cookie") or []
        assert any(cookie.startswith("slack-app-oauth-state=") for cookie in cookies), cookies
        assert "client_id=0000000000.0000000000" in install.body  # the settings' placeholder
        count_states = "from django_slack_store.models import SlackOAuthState as S; print(S.objects.count())"
        states = run([sys.executable, "manage.py", "shell", "-c", count_states], cwd=project, env=env)
        assert states.strip().splitlines()[-1] == "1", states

        # Slack's signed POST: Bolt checks it against SLACK_SIGNING_SECRET from the environment.
        body = '{"token": "t", "challenge": "readme-challenge", "type": "url_verification"}'
        challenge = (body, "application/json")
        accepted = server.post_from_slack(challenge, signing_secret=SIGNING_SECRET)
        assert accepted.status == 200, accepted
        assert "readme-challenge" in accepted.body
        for secret in ("fake-signing-secret", None):  # the placeholder is not the secret now; unsigned
            refused = server.post_from_slack(challenge, signing_secret=secret)
            assert refused.status == 401, (secret, refused)
            assert "readme-challenge" not in refused.body

    assert "Traceback" not in server.output(), server.output()
