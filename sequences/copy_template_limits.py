"""Limits and bounded building blocks for the copy-template sandbox (see docs/copy-templates.md).

Everything a template can do that costs time or memory goes through a function here, so that the cost is
checked *before* the work is done: loops, string building, arithmetic, comparisons and every filter.
"""

import contextvars
import functools
import itertools
import operator
import re
import time
from collections.abc import Iterator
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from jinja2 import Undefined, filters, pass_eval_context, tests
from markupsafe import Markup

MAX_SOURCE_CHARS = 20_000
MAX_TAG_TOKENS = 2_000  # words and symbols inside {{ }} / {% %}: bounds parse + compile time
MAX_AST_DEPTH = 100  # well below Python's recursion limit, so compiling never recurses too deep
MAX_LOOP_ITEMS = 200  # longer iterables are truncated to their first 200 items
MAX_LOOP_NESTING = 2
RENDER_DEADLINE_SECONDS = 0.1  # of CPU time; wall-clock time may reach 10 times that on a busy machine
HARD_DEADLINE_FACTOR = 10
MAX_STRING_CHARS = 100_000  # any intermediate value, measured as the text it would print as
MAX_LIST_ITEMS = 1_000  # lists built with + in a template
MAX_OUTPUT_CHARS = 200_000
MAX_NUMBER = 10**15


class CopyTemplateError(Exception):
    """A template could not be compiled or rendered; str() is written for marketers."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return f"Line {self.line}: {self.message}" if self.line else self.message


# (wall-clock deadline, CPU-time deadline, hard wall-clock deadline) of the render in progress, if any.
_deadline: contextvars.ContextVar[tuple[float, float, float] | None] = contextvars.ContextVar(
    "copy_template_deadline", default=None
)


def start_deadline(seconds: float) -> contextvars.Token:
    wall = time.monotonic()
    return _deadline.set((wall + seconds, time.thread_time() + seconds, wall + seconds * HARD_DEADLINE_FACTOR))


def reset_deadline(token: contextvars.Token) -> None:
    _deadline.reset(token)


def check_deadline() -> None:
    """Past the wall-clock deadline, fail only if the render really used the CPU time (or hit the hard cap).

    A pure wall-clock deadline failed a 40 µs render on a loaded machine (the thread was descheduled for more
    than 100 ms); the cheap monotonic clock is read first, the per-thread CPU clock only once it has passed.
    """
    state = _deadline.get()  # None outside a render: Jinja folds constants at compile time through these
    if state is None:
        return
    now = time.monotonic()
    if now > state[0] and (now > state[2] or time.thread_time() > state[1]):
        raise CopyTemplateError("the template took too long to render")


def footprint(value, limit: int = MAX_STRING_CHARS) -> int:
    """Roughly how many characters `value` prints as; raises once above `limit`, without building the text.

    Walks containers iteratively with an early exit, so a list that references itself a billion times over
    (`[a, a, a]` nested ten deep) costs at most `limit` steps, not a billion.
    """
    if isinstance(value, str):
        size = len(value)
    elif isinstance(value, int | float | Decimal | Undefined | date) or value is None:
        size = 24
    else:
        size, stack = 0, [value]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                size += len(item) + 4
            elif isinstance(item, dict):
                size += 2 + 2 * len(item)
                stack.extend(item.keys())
                stack.extend(item.values())
            elif isinstance(item, list | tuple):
                size += 2 + 2 * len(item)
                stack.extend(item)
            else:
                size += 24
            if size > limit:
                break
    if size > limit:
        raise CopyTemplateError(f"a value in the template is too long (more than {limit:,} characters)")
    return size


def check_number(value):
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        try:
            too_big = not abs(value) <= MAX_NUMBER  # written so that NaN counts as too big
        except InvalidOperation:
            too_big = True
        if too_big:
            raise CopyTemplateError(f"a number in the template is too large (over {MAX_NUMBER:,}) or not a number")
    return value


def binop(op: str, left, right):
    """`+ - * / // %` for templates: sizes are checked before the result is built."""
    check_deadline()
    if isinstance(left, Undefined) or isinstance(right, Undefined):
        return _BINOPS.get(op, operator.pow)(left, right)  # Undefined raises "'x' is undefined"
    if isinstance(left, Decimal) and isinstance(right, float):  # prices are Decimals; `price * 0.9` should work
        right = Decimal(str(right))
    elif isinstance(left, float) and isinstance(right, Decimal):
        left = Decimal(str(left))
    numbers = all(isinstance(x, int | float | Decimal) for x in (left, right))
    if numbers:
        check_number(left)
        check_number(right)
    if op == "**":
        raise CopyTemplateError("the ** operator is not supported")
    if op == "%" and not numbers:
        # printf-style formatting can request gigabyte widths ("%999999999d"); templates have filters instead.
        raise CopyTemplateError("the % operator only works on numbers")
    if op == "*" and not numbers:
        seq, count = (left, right) if isinstance(right, int) else (right, left)
        if not (isinstance(seq, str) and isinstance(count, int)):
            raise CopyTemplateError('only text can be repeated with * (e.g. "-" * 20)')
        if len(seq) * max(count, 0) > MAX_STRING_CHARS:
            raise CopyTemplateError(f"text built with * would be longer than {MAX_STRING_CHARS:,} characters")
    if op == "+" and not numbers:
        both_text = isinstance(left, str) and isinstance(right, str)
        both_lists = isinstance(left, list | tuple) and isinstance(right, list | tuple)
        if both_text and len(left) + len(right) > MAX_STRING_CHARS:
            raise CopyTemplateError(f"text built with + would be longer than {MAX_STRING_CHARS:,} characters")
        if both_lists and len(left) + len(right) > MAX_LIST_ITEMS:
            raise CopyTemplateError(f"a list built with + would have more than {MAX_LIST_ITEMS:,} items")
    try:
        result = _BINOPS[op](left, right)
    except ZeroDivisionError:
        raise CopyTemplateError("division by zero") from None
    except (TypeError, ValueError, ArithmeticError, AttributeError):
        raise CopyTemplateError(f"the values on either side of {op} cannot be combined") from None
    return _bounded_str(check_number(result))


_BINOPS = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
}


# Internal filters. The AST rewrite inserts them; marketers cannot name them because "_" names are refused.


class _BoundedLoop:
    """What a `for` loop iterates: at most MAX_LOOP_ITEMS items, with the render deadline checked per item."""

    __slots__ = ("_items",)

    def __init__(self, items: list):
        self._items = items

    def __len__(self) -> int:  # lets loop.length / loop.last work without buffering twice
        return len(self._items)

    def __iter__(self) -> Iterator:
        for item in self._items:
            check_deadline()
            yield item


def bounded_loop(value) -> _BoundedLoop:
    if isinstance(value, Undefined) or value is None:
        return _BoundedLoop([])
    if not isinstance(value, str | list | tuple | dict):
        raise CopyTemplateError("only lists, mappings and text can be looped over")
    return _BoundedLoop(list(itertools.islice(value, MAX_LOOP_ITEMS)))


@pass_eval_context
def concat(eval_ctx, items: list):
    """`~`: same result as Jinja's markup_join/str_join, but the length is checked before joining."""
    check_deadline()
    total = sum(footprint(item) for item in items)
    if total > MAX_STRING_CHARS:
        raise CopyTemplateError(f"text built with ~ would be longer than {MAX_STRING_CHARS:,} characters")
    parts = [item if isinstance(item, str) else str(item) for item in items]
    if eval_ctx.autoescape and any(hasattr(p, "__html__") for p in parts):
        return _bounded_str(Markup("").join(parts))
    return "".join(parts)


def slice_(value, start=None, stop=None, step=None):
    # Jinja compiles `x[a:b]` to a raw Python slice; this keeps slicing to lists, tuples and text.
    if isinstance(value, Undefined):
        return value
    if not isinstance(value, str | list | tuple):
        raise CopyTemplateError("only lists and text can be sliced")
    try:
        return value[start:stop:step]
    except (TypeError, ValueError):
        raise CopyTemplateError("slice positions must be whole numbers (and the step not 0)") from None


def sized(value):
    """Identity, but refuses huge values before a comparison (== and `in` walk whole nested lists)."""
    footprint(value)
    return value


def finalize(value):
    """Applied by Jinja to every `{{ }}` result before it is turned into text."""
    footprint(value)
    return value


def _bounded_str(value):
    if isinstance(value, str) and len(value) > MAX_STRING_CHARS:
        raise CopyTemplateError(f"a value in the template is too long (more than {MAX_STRING_CHARS:,} characters)")
    return value


def _guarded(func, estimate=None):
    """Wrap a filter: deadline, bounded inputs, optional size estimate before the work, bounded result."""

    @functools.wraps(func)  # keeps Jinja's pass_eval_context / pass_environment marker
    def wrapper(*args, **kwargs):
        check_deadline()
        for arg in (*args, *kwargs.values()):
            footprint(arg)
        if estimate is not None:
            estimate(*args, **kwargs)
        try:
            result = func(*args, **kwargs)
        except CopyTemplateError:
            raise
        except (TypeError, ValueError, ArithmeticError, AttributeError, LookupError):
            name = func.__name__.removeprefix("do_")
            raise CopyTemplateError(f"the {name} filter could not handle this value") from None
        return _bounded_str(result)

    return wrapper


def _too_long(what: str, size: int) -> None:
    if size > MAX_STRING_CHARS:
        raise CopyTemplateError(f"{what} would be longer than {MAX_STRING_CHARS:,} characters")


def _estimate_replace(eval_ctx, s, old, new, count=None):
    s, old, new = str(s), str(old), str(new)
    hits = len(s) + 1 if old == "" else s.count(old)
    if count is not None and isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    _too_long("the result of replace", len(s) + hits * len(new))


def _estimate_join(eval_ctx, value, d="", attribute=None):
    if isinstance(value, list | tuple | dict | str):
        _too_long("the result of join", footprint(value) + len(value) * len(str(d)))


def do_default(value, default_value="", boolean=False):
    """Django/Klaviyo semantics: missing, None and blank text all fall back (Jinja's only handles missing)."""
    if boolean:
        return value or default_value
    if isinstance(value, Undefined) or value is None or (isinstance(value, str) and not value.strip()):
        return default_value
    return value


_CURRENCIES = {"USD": ("$", 2), "EUR": ("€", 2), "GBP": ("£", 2), "JPY": ("¥", 0), "INR": ("₹", 2)}


def do_money(value, currency="USD"):
    """`{{ price|money:"EUR" }}` -> €49.90; unknown codes print after the amount: 49.90 XYZ."""
    if isinstance(value, bool) or value is None or isinstance(value, Undefined):
        return ""
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return ""
    if not amount.is_finite():
        return ""
    check_number(amount)  # before formatting: f"{Decimal('1e999999999'):f}" would be a gigabyte
    code = str(currency).strip().upper() or "USD"  # product.currency may be blank
    symbol, places = _CURRENCIES.get(code, (None, 2))
    amount = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    sign, text = ("-" if amount < 0 else ""), f"{abs(amount):,.{places}f}"
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {code}"


_MONTHS = ["January", "February", "March", "April", "May", "June"]
_MONTHS += ["July", "August", "September", "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_STRFTIME = {
    "d": lambda d: f"{d.day:02d}",
    "m": lambda d: f"{d.month:02d}",
    "Y": lambda d: f"{d.year:04d}",
    "H": lambda d: f"{getattr(d, 'hour', 0):02d}",
    "M": lambda d: f"{getattr(d, 'minute', 0):02d}",
    "b": lambda d: _MONTHS[d.month - 1][:3],
    "B": lambda d: _MONTHS[d.month - 1],
    "a": lambda d: _DAYS[d.weekday()][:3],
    "A": lambda d: _DAYS[d.weekday()],
    "%": lambda d: "%",
}
# Django's letters for `|date:"j M Y"`, mapped onto the same small set.
_DJANGO_DATE = {"d": "d", "m": "m", "Y": "Y", "H": "H", "i": "M", "M": "b", "F": "B", "D": "a", "l": "A"}
_DJANGO_EXTRA = {"j": lambda d: str(d.day), "n": lambda d: str(d.month), "y": lambda d: f"{d.year % 100:02d}"}


def do_date(value, fmt="%d %b %Y"):
    """Locale-independent date formatting with a deliberately small pattern language."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return ""
    if not isinstance(value, date):
        return ""
    fmt, out = str(fmt), []
    if "%" in fmt:
        for literal, directive in re.findall(r"([^%]*)(?:%(.)|$)", fmt, flags=re.S):
            out.append(literal)
            if directive:
                if directive not in _STRFTIME:
                    raise CopyTemplateError(f"the date filter does not support %{directive}")
                out.append(_STRFTIME[directive](value))
        return "".join(out)
    escaped = False
    for char in fmt:
        if escaped or (char not in _DJANGO_DATE and char not in _DJANGO_EXTRA and char != "\\"):
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in _DJANGO_EXTRA:
            out.append(_DJANGO_EXTRA[char](value))
        else:
            out.append(_STRFTIME[_DJANGO_DATE[char]](value))
    return "".join(out)


def _from_jinja(*names):
    return {name: _guarded(filters.FILTERS[name]) for name in names}


FILTERS = {
    **_from_jinja("upper", "lower", "title", "capitalize", "trim", "truncate", "round", "int", "float", "abs"),
    **_from_jinja("length", "count", "first", "last", "striptags", "wordcount", "escape", "e"),
    "replace": _guarded(filters.FILTERS["replace"], _estimate_replace),
    "join": _guarded(filters.FILTERS["join"], _estimate_join),
    "default": _guarded(do_default),
    "d": _guarded(do_default),
    "money": _guarded(do_money),
    "date": _guarded(do_date),
    "_bounded_loop": bounded_loop,
    "_concat": concat,
    "_slice": slice_,
    "_sized": sized,
}


def _guarded_test(func):
    # `x is lower` runs str(x) and `x is in y` walks y: bound the inputs first, as for filters.
    @functools.wraps(func)
    def wrapper(*args):
        check_deadline()
        for arg in args:
            footprint(arg)
        return func(*args)

    return wrapper


TESTS = {
    name: _guarded_test(tests.TESTS[name])
    for name in (
        *("in", "==", "eq", "equalto", "!=", "ne", "<", "lt", ">", "gt", "<=", "le", ">=", "ge"),
        *("defined", "undefined", "none", "number", "string", "even", "odd", "divisibleby", "boolean"),
        *("true", "false", "integer", "float", "lower", "upper", "mapping", "sequence"),
    )
}
