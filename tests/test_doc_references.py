"""What the package says to its users points at documentation they have: a pip install has no docs/ folder,
so a check hint, an admin text or a command's help names a doc by its title, in the one form
docs/installation.md describes: `see "Security › Keys" in the django-slack-store documentation`. Each such
reference must name a doc of docs/ (its title: the first heading, up to a colon) and one of its headings.
The links of the README and of docs/ must lead to a file and a heading that exist.
"""

import ast
import re
from pathlib import Path

import pytest
from django.core import checks
from django.core.management import get_commands, load_command_class

import django_slack_store

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGE = Path(django_slack_store.__file__).resolve().parent
REFERENCE = re.compile(r'"([^"]+)" in the django-slack-store documentation')
LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}

# Settings that between them raise every check of checks.py (some exclude each other: ENCRYPTION_KEYS cannot
# be both a str and a list holding a bad key).
BAD_SETTINGS = [
    "not a dict",
    {
        "NO_SUCH_KEY": 1,
        "HISTORY_KEEP": -1,
        "ENCRYPTION_KEYS": ["not-a-key"],
        "CACHE_ALIAS": "no-such-cache",
        "CACHE_TIMEOUT": 0,
        "ASYNC_NATIVE": "yes",
        "ASYNC_POOL_SIZE": 0,
        "REVOKE_DEADLINE": 0,
        "ACCEPT_UNBOUND_TOKENS": "yes",
        "REFRESH_TIMEOUT": 0,
        "CLIENT_SECRETS": ["not", "a", "dict"],
    },
    {"ENCRYPTION_KEYS": "not-a-list", "CACHE_ALIAS": "slack", "ACCEPT_UNBOUND_TOKENS": True},
]


def markdown_lines(path):
    """The lines of a Markdown file outside its fenced code blocks (where `# settings.py` is no heading)."""
    fenced = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            yield line


def plain(heading):
    """A heading's text as read: links as their text, code without its backticks."""
    return re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip()


def headings(path):
    return [plain(line.lstrip("#")) for line in markdown_lines(path) if re.match(r"#{1,6} ", line)]


def slug(heading):
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def anchors(path):
    seen, result = {}, set()
    for heading in headings(path):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def documentation():
    """{title: headings} of every doc; the title is the first heading up to its colon."""
    docs = {}
    for path in sorted(DOCS.glob("*.md")):
        first, *rest = headings(path)
        docs[first.split(":")[0]] = set(rest)
    return docs


def unresolved(text, docs):
    """The references of `text` that name no doc, or no heading of it."""
    missing = []
    for reference in REFERENCE.findall(text):
        title, _, section = (part.strip() for part in reference.partition("›"))
        if title not in docs or (section and section not in docs[title]):
            missing.append(reference)
    return missing


def literals(path):
    """The string constants of a module, without its docstrings (which may name repository paths)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_documentation_titles_are_distinct():
    assert len(documentation()) == len(list(DOCS.glob("*.md")))


def test_the_system_checks_name_docs_by_title(settings):
    settings.CACHES = {"default": LOCMEM, "slack": LOCMEM}
    texts = {}
    for bad in BAD_SETTINGS:
        settings.DJANGO_SLACK_STORE = bad
        for message in checks.run_checks(include_deployment_checks=True):
            if message.id.startswith("django_slack_store."):
                texts[message.id] = f"{message.msg} {message.hint or ''}"

    declared = set(re.findall(r"django_slack_store\.[EW]\d{3}", (PACKAGE / "checks.py").read_text()))
    assert set(texts) == declared, "BAD_SETTINGS must raise every check, so that each one's text is read here"
    docs = documentation()
    for check_id, text in sorted(texts.items()):
        assert "docs/" not in text, f"{check_id} names a path pip users do not have: {text}"
        assert not unresolved(text, docs), f"{check_id} names no doc heading: {text}"
    referring = [check_id for check_id, text in texts.items() if REFERENCE.search(text)]
    assert len(referring) >= 5, referring


def command_help(name):
    """`manage.py NAME --help` as one line: argparse wraps lines, also after a hyphen ("django-slack-")."""
    text = load_command_class("django_slack_store", name).create_parser("manage.py", name).format_help()
    return " ".join(re.sub(r"(?<=\w-)\n\s*", "", text).split())


@pytest.mark.parametrize(
    "name", sorted(name for name, app in get_commands().items() if app == "django_slack_store")
)
def test_command_help_names_docs_by_title(name):
    text = command_help(name)
    assert "docs/" not in text
    assert not unresolved(text, documentation()), text


def test_import_help_refers_to_the_migration_guide():
    text = command_help("slack_store_import")
    assert REFERENCE.findall(text) == [
        "Migrating from slack_sdk's installation stores",
        "Migrating from slack_sdk's installation stores › Timestamps",
    ]


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda path: path.relative_to(PACKAGE).as_posix()
)
def test_no_string_of_the_package_names_a_docs_path(path):
    """Messages, admin texts and help texts are string constants; docstrings and comments may name paths."""
    docs = documentation()
    for text in literals(path):
        assert "docs/" not in text, text
        assert not unresolved(text, docs), text


def test_templates_name_no_docs_path():
    templates = sorted((PACKAGE / "templates").rglob("*.html"))
    assert templates
    for template in templates:
        assert "docs/" not in template.read_text(), template


@pytest.mark.parametrize("path", [ROOT / "README.md", *sorted(DOCS.glob("*.md"))], ids=lambda path: path.name)
def test_relative_links_lead_to_a_file_and_a_heading(path):
    broken = []
    for line in markdown_lines(path):
        for target in re.findall(r"\]\(([^)\s]+)\)", line):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in anchors(linked)):
                broken.append(target)
    assert not broken
