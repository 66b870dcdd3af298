"""Tenant templates rendered in a Jinja2 sandbox that bounds work, values and output.

Jinja's sandbox stops attribute tricks but not work: two nested `range(100000)` loops
are 10^10 iterations on the consumer's event loop, and `'x' ~ 'x'` doubled a few hundred
times, `center(10**9)` or `'%0999999999d' % 1` allocate gigabytes. A `BoundedEnvironment`
adds, per render:

- a step budget: every loop iteration and every call (macros included) spends a step;
- a deadline, checked at every step and every output expression;
- a cap on any single value (strings, lists) built by operators, calls and filters, with
  amplifying methods and filters (`center`, `replace`, `join`, `indent`, printf widths,
  repetition, big integer powers) checked *before* they allocate;
- a cap on rendered characters, counting captured blocks and macro bodies too.

`render_bounded` turns a budget hit into a clear truncated result, never an exception; other
refusals (unsafe attributes, huge repetition) still raise `SecurityError` as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final, cast

from jinja2 import nodes
from jinja2.environment import Template
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context
from jinja2.visitor import NodeTransformer

from triage.runtime.sandbox_filters import (
    FORMAT_WIDE,
    PRINTF_WIDE,
    bounded_filters,
    check_str_method,
    value_size,
)

TRUNCATED: Final = "… [truncated: {reason}]"
_LOOP_FILTER: Final = "_bounded_loop"
_CONCAT_FILTER: Final = "_bounded_concat"


class TemplateLimitExceeded(SecurityError):
    """A render reached one of its bounds (steps, time, value or output size)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """What one render may spend."""

    max_output_chars: int = 100_000
    max_value_chars: int = 100_000
    max_rendered_chars: int = 400_000
    max_steps: int = 10_000
    max_seconds: float = 0.25
    max_exponent: int = 64
    max_int_bits: int = 4096


@dataclass(frozen=True, slots=True)
class BoundedText:
    """A render's text, and why it was cut short (None when complete)."""

    text: str
    limited: str | None = None


class _Budget:
    __slots__ = ("deadline", "limits", "rendered", "steps")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.max_seconds
        self.steps = 0
        self.rendered = 0

    def _in_time(self) -> None:
        if time.monotonic() > self.deadline:
            ms = round(self.limits.max_seconds * 1000)
            raise TemplateLimitExceeded(f"rendering took longer than {ms} ms")

    def step(self) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise TemplateLimitExceeded(
                f"more than {self.limits.max_steps} loop iterations and calls"
            )
        self._in_time()

    def charge(self, chars: int) -> None:
        self.rendered += chars
        if self.rendered > self.limits.max_rendered_chars:
            raise TemplateLimitExceeded(
                f"rendered more than {self.limits.max_rendered_chars} characters"
            )
        self._in_time()

    def value(self, value: object) -> None:
        if value_size(value) > self.limits.max_value_chars:
            raise TemplateLimitExceeded(
                f"a value longer than {self.limits.max_value_chars} characters"
            )


_BUDGET: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _budget() -> _Budget:
    budget = _BUDGET.get()
    if budget is None:
        raise RuntimeError("render BoundedEnvironment templates with render_bounded()")
    return budget


@pass_context
def _bounded_loop(context: Context, iterable: Iterable[Any]) -> Iterator[Any]:
    budget = _budget()
    for item in iterable:
        budget.step()
        yield item


@pass_context
def _bounded_concat(context: Context, items: list[Any]) -> str:
    budget = _budget()
    parts = [str(x) for x in items]
    if sum(map(len, parts)) > budget.limits.max_value_chars:
        raise TemplateLimitExceeded(
            f"a value longer than {budget.limits.max_value_chars} characters"
        )
    return (markup_join if context.eval_ctx.autoescape else str_join)(items)


class _Bound(NodeTransformer):
    """Routes every `{% for %}` through the step budget and every `~` through the value cap."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        node.iter = nodes.Filter(node.iter, _LOOP_FILTER, [], [], None, None, lineno=node.lineno)
        self.generic_visit(node)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        joined = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(joined, _CONCAT_FILTER, [], [], None, None, lineno=node.lineno)


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """An immutable sandbox whose renders are bounded by `limits` (see the module doc)."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(self, *, limits: Limits | None = None, **options: Any) -> None:
        """Options are Jinja's; `finalize` still applies, after output is counted."""
        self.limits = limits or Limits()
        inner: Callable[[Any], Any] | None = options.pop("finalize", None)

        def finalize(value: Any) -> Any:
            out = value if inner is None else inner(value)
            budget = _BUDGET.get()
            if budget is not None:  # None while Jinja folds constants at compile time
                budget.charge(len(str(out)))
            return out

        super().__init__(finalize=finalize, **options)
        self.globals.pop("lipsum", None)
        self.filters.update(
            bounded_filters(
                self.filters,
                guard=self._value_guard,
                max_chars=self.limits.max_value_chars,
                error=TemplateLimitExceeded,
            )
        )
        self.filters[_LOOP_FILTER] = _bounded_loop
        self.filters[_CONCAT_FILTER] = _bounded_concat

    def _value_guard(self, value: Any) -> Any:
        _budget().value(value)
        return value

    def _generate(
        self,
        source: nodes.Template,
        name: str | None,
        filename: str | None,
        defer_init: bool = False,
    ) -> str:
        # Every compile (from source text or from a parsed tree) passes here.
        bounded = _Bound().visit(source)
        return super()._generate(bounded, name, filename, defer_init=defer_init)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Refuse `str.format` on a format string with huge widths before it is called."""
        _check_format(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """As `getattr`, for `obj['format']`."""
        _check_format(obj, argument)
        return super().getitem(obj, argument)

    def concat(self, pieces: Iterable[str]) -> str:
        """Join a captured block or macro body, refusing one longer than a value may be."""
        items = pieces if isinstance(pieces, list) else list(pieces)
        size = sum(map(len, items))
        budget = _BUDGET.get()
        if budget is not None and size > budget.limits.max_value_chars:
            raise TemplateLimitExceeded(
                f"a captured block longer than {budget.limits.max_value_chars} characters"
            )
        return "".join(items)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Spend a step, refuse amplifying string methods, then cap the result."""
        budget = _budget()
        budget.step()
        args = check_str_method(__obj, args, __self.limits.max_value_chars, TemplateLimitExceeded)
        result = super().call(__context, __obj, *args, **kwargs)
        budget.value(result)
        return result

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Refuse huge powers and repetitions before computing; cap what `+`/`%` build."""
        _check_binop(self.limits, operator, left, right)
        result = super().call_binop(context, operator, left, right)
        _budget().value(result)
        return result


def _check_format(obj: Any, name: Any) -> None:
    if isinstance(obj, str) and name in ("format", "format_map") and FORMAT_WIDE.search(obj):
        raise TemplateLimitExceeded("format width or precision of 1000 or more")


def _check_binop(limits: Limits, operator: str, left: Any, right: Any) -> None:
    ints = isinstance(left, int) and isinstance(right, int)
    if operator == "**":
        if isinstance(right, int) and abs(right) > limits.max_exponent:
            raise SecurityError(f"exponent {right} is larger than {limits.max_exponent}")
        if ints and left.bit_length() * abs(right) > limits.max_int_bits:
            raise SecurityError("integer power is too large")
    elif operator == "*":
        for seq, times in ((left, right), (right, left)):
            sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
            if sized and len(seq) * times > limits.max_value_chars:
                raise SecurityError("repetition result is too large")
        if ints and left.bit_length() + right.bit_length() > limits.max_int_bits:
            raise SecurityError("integer product is too large")
    elif operator == "%" and isinstance(left, str) and PRINTF_WIDE.search(left):
        raise TemplateLimitExceeded("printf width or precision of 1000 or more")


def render_bounded(template: Template, context: Mapping[str, Any]) -> BoundedText:
    """Render with the environment's limits; a bound reached gives truncated text, not an error.

    Other exceptions (unsafe access, a template's own errors) propagate unchanged.
    """
    environment = template.environment
    limits = environment.limits if isinstance(environment, BoundedEnvironment) else Limits()
    token = _BUDGET.set(_Budget(limits))
    pieces: list[str] = []
    size = 0
    limited: str | None = None
    stream = cast(Generator[str, None, None], template.generate(dict(context)))
    try:
        for piece in stream:
            pieces.append(piece)
            size += len(piece)
            if size > limits.max_output_chars:
                limited = f"output longer than {limits.max_output_chars} characters"
                break
    except TemplateLimitExceeded as exc:
        limited = str(exc)
    finally:
        stream.close()
        _BUDGET.reset(token)
    text = "".join(pieces)
    if limited is None:
        return BoundedText(text)
    return BoundedText(text[: limits.max_output_chars] + TRUNCATED.format(reason=limited), limited)
