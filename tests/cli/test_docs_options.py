"""The options README.md and docs/*.md tell users to type exist in the matching `--help`.

An option is checked against the command it is written with: `crmqa run --trace` against
`crmqa run --help` (plus pytest's options, which `crmqa run` passes on), `pytest --crmqa-live`
against `pytest --help` with crmqa's plugin, `crmqa sandbox --port` against the sandbox's
help. A table column headed by a command (`crmqa run`, `pytest`) gives its options that
command. An option written on its own must be one of crmqa's: a `crmqa` subcommand's or a
pytest option of crmqa's plugin (not one of pytest's own: pytest's `--trace` is not crmqa's).
Options of other programs (`python -m gunicorn --bind`, `bench/ui.py --cases`) are left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from crmqa.cli.main import cli
from tests.cli.help_text import CRMQA_GROUP, OPTION, ROOT, defined_options, help_groups, pytest_help

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

Command = tuple[str, ...]  # ("pytest",), ("crmqa",), ("crmqa", "run"), ...
# The repository's scripts that hand their arguments to a crmqa command.
SCRIPTS: dict[str, Command] = {"demo.sh": ("crmqa", "demo"), "test.sh": ("pytest",)}
_START, _FOREIGN, _BARE, _SUBCOMMAND = ("<start>",), ("<foreign>",), ("<bare>",), ("<sub>",)


@dataclass(frozen=True)
class Mention:
    """One `--option` in the docs, and the command it is written for (None: on its own)."""

    where: str  # file:line
    option: str
    command: Command | None


def _command_of(token: str, previous: str) -> Command | None:
    name = token.rsplit("/", 1)[-1]
    if name in ("pytest", "py.test"):
        return ("pytest",)
    if name == "crmqa":
        return _SUBCOMMAND
    if name.startswith("crmqa."):  # python -m crmqa.sandbox
        return ("crmqa", name.split(".")[1])
    if name in SCRIPTS:
        return SCRIPTS[name]
    return None


def scan(text: str, where: str, context: Command = _START) -> list[Mention]:
    """Options in one command line or code span, each with the command it belongs to."""
    found: list[Mention] = []
    previous = ""
    for token in text.split():
        if token in ("|", "||", "&&", ";"):
            context = _START
            continue
        command = _command_of(token.strip("\"'`()"), previous)
        option = OPTION.match(token)
        if command is not None:
            context = command
        elif context == _SUBCOMMAND:
            context = ("crmqa",) if token.startswith("-") else ("crmqa", token)
            if option:
                found.append(Mention(where, option.group(0), ("crmqa",)))
        elif option and not option.group(0).endswith("-"):  # `--crmqa-` names a prefix
            if context in (_START, _BARE):
                context = _BARE
                found.append(Mention(where, option.group(0), None))
            elif context != _FOREIGN:
                found.append(Mention(where, option.group(0), context))
        elif context == _START and not token.startswith("-"):
            context = _FOREIGN  # another program's command line
        previous = token
    return found


_FENCE = re.compile(r"^\s*(```|~~~)")
_SPAN = re.compile(r"`([^`]+)`")
_COMMENT = re.compile(r"\s#.*$")
_SEPARATOR = re.compile(r"^\|?\s*:?-{3,}")


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row.strip().strip("|"))]


def _column_command(header: str) -> Command:
    words = header.strip("` ").split()
    if words[:1] == ["pytest"]:
        return ("pytest",)
    if words[:1] == ["crmqa"]:
        return ("crmqa", *words[1:2])
    return _START


def mentions(path: Path) -> list[Mention]:
    """Every `--option` a Markdown file shows, with its command."""
    found: list[Mention] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    in_code = False
    columns: list[Command] = []
    for number, line in enumerate(lines, 1):
        where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name}:{number}"
        if _FENCE.match(line):
            in_code = not in_code
            continue
        if in_code:
            found += scan(_COMMENT.sub("", line), where)
            continue
        if line.lstrip().startswith("|"):
            following = lines[number] if number < len(lines) else ""
            if _SEPARATOR.match(line.strip()):
                continue
            if _SEPARATOR.match(following.strip()):  # a header row
                columns = [_column_command(cell) for cell in _cells(line)]
                continue
            cells = _cells(line)
        else:
            columns, cells = [], [line]
        for index, cell in enumerate(cells):
            context = columns[index] if index < len(columns) else _START
            for span in _SPAN.findall(cell):
                found += scan(span, where, context)
            found += [
                Mention(where, option, None)
                for option in OPTION.findall(_SPAN.sub(" ", cell))
                if not option.endswith("-")
            ]
    return found


# --------------------------------------------------------------------------- the helps


@pytest.fixture(scope="module")
def helps(tmp_path_factory: pytest.TempPathFactory) -> dict[Command, set[str]]:
    """Options per command, from the real help texts."""
    text = pytest_help(tmp_path_factory.mktemp("help"))
    by_command: dict[Command, set[str]] = {("pytest",): defined_options(text)}
    by_command[("crmqa-plugin",)] = help_groups(text)[CRMQA_GROUP]
    runner = CliRunner()
    top = runner.invoke(cli, ["--help"], prog_name="crmqa")
    assert top.exit_code == 0, top.output
    by_command[("crmqa",)] = defined_options(top.output)
    for name in cli.commands:
        shown = runner.invoke(cli, [name, "--help"], prog_name="crmqa")
        assert shown.exit_code == 0, (name, shown.output)
        by_command[("crmqa", name)] = defined_options(shown.output)
        group = cli.commands[name]
        if isinstance(group, click.Group):
            # `crmqa campaign status --as-of`: the scan keeps two words of a command, so a
            # group stands for its subcommands' options too
            for sub in group.commands:
                shown = runner.invoke(cli, [name, sub, "--help"], prog_name="crmqa")
                assert shown.exit_code == 0, (name, sub, shown.output)
                by_command[("crmqa", name)] |= defined_options(shown.output)
    return by_command


def allowed(mention: Mention, helps: dict[Command, set[str]]) -> set[str]:
    if mention.command is None:  # on its own: one of crmqa's options
        return set().union(
            helps[("crmqa-plugin",)],
            *(options for command, options in helps.items() if command[0] == "crmqa"),
        )
    if mention.command == ("crmqa", "run"):  # crmqa run passes unknown options to pytest
        return helps[("crmqa", "run")] | helps[("pytest",)]
    return helps.get(mention.command, set())


def unlisted(documented: list[Mention], helps: dict[Command, set[str]]) -> list[str]:
    """The mentions whose option the matching help does not list, as `file:line: command`."""
    return [
        f"{m.where}: {' '.join(m.command or ('(on its own)',))} {m.option}"
        for m in documented
        if m.option not in allowed(m, helps)
    ]


def test_every_documented_option_exists(helps: dict[Command, set[str]]) -> None:
    documented = [mention for path in DOCS for mention in mentions(path)]
    assert len(documented) > 30  # the scan found the docs' options at all
    wrong = unlisted(documented, helps)
    assert wrong == [], "documented options that --help does not list:\n" + "\n".join(wrong)


def test_options_that_do_not_exist_are_caught(
    helps: dict[Command, set[str]], tmp_path: Path
) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```bash\n"
        "pytest plan.yaml --ui-timeout 5 --headed   # crmqa's are --crmqa-ui-timeout, ...\n"
        "crmqa run plan.yaml --slowmo 3\n"
        "crmqa frobnicate --x\n"
        "pytest plan.yaml --trace --crmqa-live\n"
        "```\n"
        "| option | `pytest` |\n|---|---|\n| trace | `--crmqa-trace on` |\n| x | `--trace-ui` |\n"
        "\nOn its own: `--crmqa-nothing`, `--collect-only` (pytest's), `--crmqa-live`.\n",
        encoding="utf-8",
    )
    assert unlisted(mentions(page), helps) == [
        "page.md:2: pytest --ui-timeout",
        "page.md:2: pytest --headed",
        "page.md:3: crmqa run --slowmo",
        "page.md:4: crmqa frobnicate --x",
        "page.md:10: pytest --trace-ui",
        "page.md:12: (on its own) --crmqa-nothing",
        "page.md:12: (on its own) --collect-only",
    ]


def test_the_plugin_adds_only_prefixed_options(helps: dict[Command, set[str]]) -> None:
    plugin = helps[("crmqa-plugin",)]
    assert "--crmqa-headed" in plugin and "--crmqa-trace" in plugin
    assert {o for o in plugin if not o.startswith("--crmqa-")} == set()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("crmqa run plans/x.yaml --trace on", [("--trace", ("crmqa", "run"))]),
        (".venv/bin/python -m pytest plan.yaml --crmqa-reports r",
         [("--crmqa-reports", ("pytest",))]),
        ("--headed", [("--headed", None)]),
        ("--db PATH", [("--db", None)]),
        ("python -m gunicorn app --bind 127.0.0.1:1", []),
        ("bash scripts/demo.sh --faults a,b", [("--faults", ("crmqa", "demo"))]),
        ("crmqa --version", [("--version", ("crmqa",))]),
        ("crmqa run p.yaml | tee --append log", []),
        ("the `--crmqa-` prefix", []),
    ],
)
def test_scan_attributes_options_to_their_command(
    text: str, expected: list[tuple[str, Command | None]]
) -> None:
    assert [(m.option, m.command) for m in scan(text, "x")] == expected


def test_a_table_column_names_the_command(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "| setting | `crmqa run` | `pytest` |\n|---|---|---|\n"
        "| trace | `--trace on` | `--crmqa-trace on` |\n\nalso `--slow-mo` and --video\n",
        encoding="utf-8",
    )
    assert [(m.option, m.command) for m in mentions(page)] == [
        ("--trace", ("crmqa", "run")),
        ("--crmqa-trace", ("pytest",)),
        ("--slow-mo", None),
        ("--video", None),
    ]
