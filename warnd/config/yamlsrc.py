"""YAML documents that remember where every key and item came from.

Operators edit these files by hand, so every problem must point at a line. PyYAML's node tree
carries the marks; we construct the plain Python value from it and keep a map from key path to
line beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from warnd.errors import Problem

PathKey = tuple[str | int, ...]


@dataclass
class Doc:
    """One loaded YAML file: its value, its display name and the line of each key path."""

    file: str
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line(self, path: PathKey) -> int | None:
        """Line of the deepest part of `path` that exists in the file."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)

    def problem(self, path: PathKey, message: str) -> Problem:
        return Problem(self.file, self.line(path), dotted(path), message)


def dotted(path: PathKey) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def display_name(path: Path) -> str:
    """Relative to the working directory when under it (an operator in a checkout), else as
    given: under systemd the working directory is "/", and "etc/warnd/rules/x.yaml" would read
    as a path relative to wherever the operator's shell is."""
    cwd = Path.cwd().resolve()
    if cwd == Path(cwd.anchor):
        return str(path)
    try:
        return str(path.resolve().relative_to(cwd))
    except ValueError:
        return str(path)


# Operator files are a few kilobytes; these bounds only stop a file that would take the loader's
# memory or time (a pasted data dump, an alias bomb) before it gets that far.
MAX_FILE_BYTES = 10 * 2**20
MAX_VALUES = 200_000


def load(path: Path) -> tuple[Doc | None, list[Problem]]:
    name = display_name(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, [Problem(name, None, "", f"{size} bytes is larger than the limit of {MAX_FILE_BYTES}")]
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [Problem(name, None, "", "file not found")]
    except (OSError, UnicodeDecodeError) as e:
        return None, [Problem(name, None, "", f"cannot read: {e}")]
    return parse(text, name)


# libyaml's parser where PyYAML was built with it: the same nodes with the same marks, about ten
# times faster than the pure-Python one (a national configuration's rules took 0.45 s of the
# daemon's start to parse).
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse(text: str, name: str) -> tuple[Doc | None, list[Problem]]:
    try:
        # The reader checks the whole text for characters YAML forbids as it is made (libyaml
        # says less precisely where).
        yaml.reader.Reader(text)
        loader = _LOADER(text)
    except yaml.reader.ReaderError as e:
        at = text.count("\n", 0, e.position) + 1
        return None, [Problem(name, at, "", f"character {e.character:#06x} is not allowed in YAML")]
    doc = Doc(name, None)
    problems: list[Problem] = []
    try:
        node = loader.get_single_node()
        if node is not None:
            # Walk before constructing: construction flattens merge keys (<<) in place, which
            # would make an overridden merged key look like a duplicate.
            doc.lines[()] = node.start_mark.line + 1
            values = expanded_size(node)
            if values > MAX_VALUES:
                # Billion laughs: a few lines of anchors that would expand to millions of values in
                # every later walk over the data (checks, validation).
                return None, [Problem(name, None, "", f"aliases expand to more than {MAX_VALUES} values")]
            _walk(node, (), doc, problems)
            doc.data = loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(x for x in (e.context, e.problem) if x)
        if "maximum nesting depth" in what:
            # libyaml's own bound on nesting, said as the pure-Python parser's overflow is.
            return None, [Problem(name, line, "", "YAML nested too deeply")]
        return None, [Problem(name, line, "", f"YAML syntax error: {what}")]
    except yaml.YAMLError as e:
        return None, [Problem(name, None, "", f"YAML error: {e}")]
    except RecursionError:
        return None, [Problem(name, None, "", "YAML nested too deeply (or an alias inside itself)")]
    finally:
        loader.dispose()
    return doc, problems


def expanded_size(root: yaml.Node) -> int:
    """How many values the document holds once every alias is expanded, counted without
    expanding: each node's size is computed once (an alias is the same node object again)."""
    size: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in size:
            continue
        kids = _children(node)
        if children_done or not kids:
            size[id(node)] = 1 + sum(size.get(id(k), 0) for k in kids)
            continue
        stack.append((node, True))
        visiting.add(id(node))
        # A node already on the way down (a recursive alias) counts as nothing more: PyYAML
        # builds such a document as a cycle, not an endless one.
        stack.extend((k, False) for k in kids if id(k) not in size and id(k) not in visiting)
    return size[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _walk(node: yaml.Node, path: PathKey, doc: Doc, problems: list[Problem]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            sub = (*path, key)
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(Problem(doc.file, line, dotted(sub), "duplicate key"))
            seen.add(key)
            doc.lines[sub] = line
            _walk(value_node, sub, doc, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            sub = (*path, i)
            doc.lines[sub] = item.start_mark.line + 1
            _walk(item, sub, doc, problems)
