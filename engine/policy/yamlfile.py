"""Reading a policy author's YAML: a key given twice in one mapping is refused, naming both lines
(a parser would keep the second silently: a re-appended parameter replaced the first), and a
syntax error is one line saying where and what, not the parser's text."""

from __future__ import annotations

from typing import Any

import yaml


class YamlProblems(Exception):
    """Why a YAML text cannot be used: one sentence per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _UniqueKeys(yaml.SafeLoader):
    """PyYAML's safe loader, keeping note of every key given twice in one mapping."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.repeated: list[tuple[int, str]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, str | int | float | bool) and key in seen:
                self.repeated.append(
                    (
                        seen[key],
                        f"the key {key!r} is given twice in one mapping (lines {seen[key]} and {line}); "
                        "keep one: the second would silently replace the first",
                    )
                )
            elif isinstance(key, str | int | float | bool):
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(text: str) -> Any:
    """The YAML text's data; raises YamlProblems for a syntax error or a repeated key."""
    loader = _UniqueKeys(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        raise YamlProblems([_syntax(exc)]) from None
    except yaml.YAMLError as exc:
        raise YamlProblems([f"is not valid YAML: {exc}"]) from None
    finally:
        loader.dispose()
    if loader.repeated:
        raise YamlProblems([problem for _, problem in sorted(loader.repeated)])
    return data


def _syntax(exc: yaml.MarkedYAMLError) -> str:
    """'is not valid YAML at line 3, column 2: expected ',' or ']', but got ':' (while parsing a
    flow sequence begun at line 2)'."""
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    what = exc.problem or exc.context or "the text cannot be read"
    context = ""
    if exc.context and exc.problem and exc.context_mark:
        context = f" ({exc.context} begun at line {exc.context_mark.line + 1})"
    text = f"is not valid YAML{where}: {what}{context}"
    if mark is not None and mark.buffer:
        lines = mark.buffer.rstrip("\0").split("\n")
        line = lines[mark.line] if mark.line < len(lines) else ""
        text += f": {line.strip()!r}" if line.strip() else ""
    return text
