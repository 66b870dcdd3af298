"""User regexes and globs, compiled for RE2: matching time is linear in the text.

Python's `re` backtracks: `^(a+)+$` took a second on 24 characters and doubled with each
one more, on the consumer's event loop. RE2 has no backtracking, so it refuses what needs
it (backreferences, lookaround); those patterns are rejected when the rule is saved.
"""

from __future__ import annotations

from typing import Final, TypeAlias

import re2

from services.rules.domain.model import Violation

MAX_PATTERN_CHARS: Final = 2000
# RE2's own default; a compiled program larger than this is refused, not grown.
MAX_PROGRAM_BYTES: Final = 8 << 20

Regex: TypeAlias = "re2._Regexp[str]"


def _options(*, ignore_case: bool) -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = MAX_PROGRAM_BYTES
    options.case_sensitive = not ignore_case
    return options


def _reason(exc: re2.error) -> str:
    detail = exc.args[0] if exc.args else exc
    return detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)


def compile_regex(
    pattern: str, path: str, violations: list[Violation], *, ignore_case: bool = False
) -> Regex | None:
    """Compile a user regex with RE2, recording a violation under `path` if it is refused."""
    if len(pattern) > MAX_PATTERN_CHARS:
        violations.append(Violation(path, f"longer than {MAX_PATTERN_CHARS} characters"))
        return None
    try:
        return re2.compile(pattern, _options(ignore_case=ignore_case))
    except re2.error as exc:
        violations.append(
            Violation(
                path,
                f"invalid regular expression (RE2 syntax, no backreferences or lookaround): "
                f"{_reason(exc)}",
            )
        )
        return None


def _glob_class(glob: str, i: int) -> tuple[str, int] | None:
    """The RE2 class for the `[...]` whose body starts at `i`, and the index after it."""
    j = i
    if j < len(glob) and glob[j] == "!":
        j += 1
    if j < len(glob) and glob[j] == "]":
        j += 1
    j = glob.find("]", j)
    if j < 0:
        return None
    body = glob[i:j].replace("\\", "\\\\")
    if body.startswith("!"):
        body = "^" + body[1:]
    elif body.startswith("^"):
        body = "\\" + body
    return f"[{body}]", j + 1


def glob_to_regex(glob: str) -> str:
    """An RE2 pattern for a shell glob (`*`, `?`, `[seq]`, `[!seq]`), matched in full."""
    out: list[str] = []
    i = 0
    while i < len(glob):
        c = glob[i]
        i += 1
        if c == "*":
            if not out or out[-1] != ".*":
                out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[" and (found := _glob_class(glob, i)) is not None:
            cls, i = found
            out.append(cls)
        else:
            out.append(re2.escape(c))
    return "(?s:" + "".join(out) + ")"


def compile_globs(globs: tuple[str, ...], path: str, violations: list[Violation]) -> Regex | None:
    """One case-insensitive RE2 pattern matching any of the globs in full."""
    joined = "|".join(f"(?:{glob_to_regex(g.casefold())})" for g in globs)
    return compile_regex(joined, path, violations, ignore_case=True)
