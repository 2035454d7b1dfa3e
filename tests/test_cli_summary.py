"""The README's command summary lists every option of every verb, as the verbs' own ``--help`` does."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from tune_sched.cli import COMMANDS, _parser

README = Path(__file__).resolve().parents[1] / "README.md"
ALWAYS = {"-h", "--help", "--debug"}  # every verb takes them; the summary says so once, below its block


def _summary() -> tuple[dict[str, str], str]:
    """The README's command-line block, split by verb (a verb's continuation lines are indented), and the text
    after the block up to the next heading."""
    section = README.read_text().split("## Command line", 1)[1].split("\n## ", 1)[0]
    block, after = section.split("```", 2)[1:]
    verbs: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        head = re.match(r"tune-sched (\w+)", line)
        if head:
            current = head.group(1)
            verbs[current] = verbs.get(current, "") + " " + line
        elif line.startswith(" ") and current:
            verbs[current] += " " + line
    return verbs, after


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {opt for action in parser._actions for opt in action.option_strings if opt.startswith("--")}


def _verbs() -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_verb_is_in_the_summary() -> None:
    verbs, _ = _summary()
    assert set(_verbs()) == set(COMMANDS) and set(COMMANDS) <= set(verbs)


@pytest.mark.parametrize("verb", list(COMMANDS))
def test_the_summary_lists_exactly_the_verbs_options(verb: str) -> None:
    text = _summary()[0][verb]
    listed = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text))
    wanted = _options(_verbs()[verb]) - ALWAYS
    assert wanted - listed == set(), f"missing from the README's summary of {verb}"
    assert listed - wanted == set(), f"not an option of {verb}"


def test_the_options_every_verb_takes_are_said_once() -> None:
    _, after = _summary()
    assert all(ALWAYS - {"-h"} <= _options(parser) for parser in _verbs().values())
    assert "`--debug`" in after and "`--help`" in after
    block = README.read_text().split("## Command line", 1)[1].split("```")[1]
    assert all(f"tune-sched {option}" in block for option in _options(_parser()) - ALWAYS)  # --version
