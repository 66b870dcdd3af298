"""Size checks for the Jinja filters and string methods that can amplify their input.

Each check estimates the result's length from the arguments before anything is
allocated (`'x'|center(10**9)` would otherwise build a gigabyte first); every filter's
result is also checked after it returns. Used by `triage.runtime.sandbox`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from jinja2.exceptions import SecurityError
from jinja2.filters import make_attrgetter, sync_do_join, sync_do_sum

FORMAT_WIDE: Final = re.compile(r"\{[^{}]*:[^{}]*(?:\d{4,}|\{)")
PRINTF_WIDE: Final = re.compile(r"%[-#0 +]*(?:\*|\d{4,})|%[-#0 +]*\d*\.(?:\*|\d{4,})")
_WIDTH_METHODS: Final = frozenset({"center", "ljust", "rjust", "zfill"})

Guard = Callable[[Any], Any]


def value_size(value: object) -> int:
    """The length that counts against the value cap (0 for scalars and lazy iterables)."""
    if isinstance(value, str | bytes | list | tuple | dict | set | frozenset):
        return len(value)
    return 0


def _text_len(items: Iterable[Any]) -> int:
    return sum(len(x) if isinstance(x, str) else 32 for x in items)


def _replace_size(s: str, old: str, new: str, count: int | None) -> int:
    hits = s.count(old) if old else len(s) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    return len(s) + hits * max(0, len(new) - len(old))


def _str_method_size(owner: str, name: str, args: tuple[Any, ...]) -> int:
    if name in _WIDTH_METHODS and args and isinstance(args[0], int):
        return max(len(owner), args[0])
    if name == "expandtabs":
        size = args[0] if args and isinstance(args[0], int) else 8
        return len(owner) + owner.count("\t") * max(0, size)
    if name == "replace" and len(args) >= 2:
        count = args[2] if len(args) > 2 and isinstance(args[2], int) else None
        return _replace_size(owner, str(args[0]), str(args[1]), count)
    if name == "join" and args and isinstance(args[0], list):
        return _text_len(args[0]) + len(owner) * max(0, len(args[0]) - 1)
    return 0


def check_str_method(
    obj: Any, args: tuple[Any, ...], max_chars: int, error: type[SecurityError]
) -> tuple[Any, ...]:
    """Refuse a str method call whose result would pass `max_chars`; returns the args to use."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if not isinstance(owner, str):
        return args
    if name == "join" and args and not isinstance(args[0], list):
        args = (list(args[0]), *args[1:])
    if name in ("format", "format_map") and FORMAT_WIDE.search(owner):
        raise error("format width or precision of 1000 or more")
    if _str_method_size(owner, name, args) > max_chars:
        raise error(f"str.{name} would build a value longer than {max_chars} characters")
    return args


@dataclass(frozen=True, slots=True)
class _Cap:
    guard: Guard
    max_chars: int
    error: type[SecurityError]

    def refuse(self, name: str) -> SecurityError:
        return self.error(f"filter {name!r} would build a value longer than {self.max_chars}")


def _bounded(
    name: str, original: Callable[..., Any], estimate: Callable[..., int] | None, cap: _Cap
) -> Callable[..., Any]:
    @functools.wraps(original)
    def run(*args: Any, **kwargs: Any) -> Any:
        if estimate is not None and estimate(*args, **kwargs) > cap.max_chars:
            raise cap.refuse(name)
        return cap.guard(original(*args, **kwargs))

    return run


def _center(value: Any, width: int = 80) -> int:
    return max(len(str(value)), width if isinstance(width, int) else 0)


def _indent(s: Any, width: int | str = 4, *_: Any, **__: Any) -> int:
    text = str(s)
    pad = width if isinstance(width, int) else len(width)
    return len(text) + (text.count("\n") + 1) * max(0, pad)


def _format(value: Any, *args: Any, **kwargs: Any) -> int:
    if isinstance(value, str) and PRINTF_WIDE.search(value):
        return 1 << 62
    return 0


def _replace(_ctx: Any, s: Any, old: Any, new: Any, count: int | None = None) -> int:
    return _replace_size(str(s), str(old), str(new), count)


def _wordwrap(
    _env: Any, s: Any, width: int = 79, _blw: bool = True, wrapstring: str | None = None, *_: Any
) -> int:
    text = str(s)
    return len(text) + (len(text) // max(1, width) + 1) * len(wrapstring or "\n")


def _tojson(_ctx: Any, value: Any, indent: int | None = None) -> int:
    return 1 << 62 if indent is not None and indent > 8 else 0


def _batch(value: Any, linecount: int, *_: Any) -> int:
    return linecount if isinstance(linecount, int) else 0


def _slice(_ctx: Any, value: Any, slices: int, *_: Any) -> int:
    return slices if isinstance(slices, int) else 0


def _join_filter(cap: _Cap) -> Callable[..., Any]:
    @functools.wraps(sync_do_join)
    def join(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> Any:
        items = list(value)
        if attribute is not None:
            items = list(map(make_attrgetter(eval_ctx.environment, attribute), items))
        if _text_len(items) + len(str(d)) * max(0, len(items) - 1) > cap.max_chars:
            raise cap.refuse("join")
        return cap.guard(sync_do_join(eval_ctx, items, d))

    return join


def _sum_filter(cap: _Cap) -> Callable[..., Any]:
    @functools.wraps(sync_do_sum)
    def total(
        environment: Any, iterable: Iterable[Any], attribute: Any = None, start: Any = 0
    ) -> Any:
        items = list(iterable)
        if attribute is not None:
            items = list(map(make_attrgetter(environment, attribute), items))
        if sum(map(value_size, items)) + value_size(start) > cap.max_chars:
            raise cap.refuse("sum")
        return cap.guard(sync_do_sum(environment, items, start=start))

    return total


_ESTIMATES: Final[Mapping[str, Callable[..., int]]] = {
    "center": _center,
    "indent": _indent,
    "format": _format,
    "replace": _replace,
    "wordwrap": _wordwrap,
    "tojson": _tojson,
    "batch": _batch,
    "slice": _slice,
}


def bounded_filters(
    filters: Mapping[str, Callable[..., Any]],
    *,
    guard: Guard,
    max_chars: int,
    error: type[SecurityError],
) -> dict[str, Any]:
    """Every filter wrapped: amplifiers estimated first (`error` if past `max_chars`), then
    every result passed through `guard`."""
    cap = _Cap(guard, max_chars, error)
    out: dict[str, Any] = {
        name: _bounded(name, original, _ESTIMATES.get(name), cap)
        for name, original in filters.items()
    }
    out["join"] = _join_filter(cap)
    out["sum"] = _sum_filter(cap)
    return out
