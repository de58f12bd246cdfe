"""Sandbox for marketer-written email copy templates (untrusted input). Design notes: docs/copy-templates.md.

A hardened Jinja2 SandboxedEnvironment: no loader, no globals, no calls, attribute access that only ever
reads dict keys and list indexes, an allow-list of AST nodes/filters/tests, and an AST rewrite that routes
loops, `~`, slices and comparisons through bounded functions in copy_template_limits.
"""

import difflib
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import ChainableUndefined, TemplateSyntaxError, Undefined, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import LoopContext
from jinja2.sandbox import SandboxedEnvironment
from jinja2.visitor import NodeTransformer

from sequences import copy_template_limits as limits
from sequences.copy_template_limits import CopyTemplateError

__all__ = ["CopyProblem", "CopyTemplateError", "check_copy_template", "render_copy_template"]


@dataclass(frozen=True)
class CopyProblem:
    line: int | None
    message: str


_LOOP_FIELDS = frozenset({"index", "index0", "revindex", "revindex0", "first", "last", "length"})
_LOOP_FIELDS |= {"previtem", "nextitem"}


class _CopyEnvironment(SandboxedEnvironment):
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def is_safe_attribute(self, obj, attr, value) -> bool:
        return False

    def is_safe_callable(self, obj) -> bool:
        return False

    def call(__self, __context, __obj, *args, **kwargs):  # Jinja's own signature
        raise SecurityError("calls are not allowed")

    def call_binop(self, context, operator, left, right):
        return limits.binop(operator, left, right)

    def getitem(self, obj, argument):
        # Never Python attributes: dict keys, integer indexes, and a few loop.* fields only.
        if isinstance(obj, Undefined):
            return obj  # chainable: `product.name` with no product is "" (and still undefined for |default)
        if isinstance(argument, str | int):
            if isinstance(obj, dict):
                value = dict.get(obj, argument, _MISSING)  # dict.get: no defaultdict/__missing__ side effects
                if value is not _MISSING:
                    return value
            elif isinstance(obj, list | tuple | str) and isinstance(argument, int):
                if -len(obj) <= argument < len(obj):
                    return obj[argument]
            elif isinstance(obj, LoopContext) and argument in _LOOP_FIELDS:
                return getattr(obj, argument)
        return self.undefined(name=argument if isinstance(argument, str | int) else "value")

    def getattr(self, obj, attribute):
        return self.getitem(obj, attribute)


_MISSING = object()


def _environment(html: bool) -> _CopyEnvironment:
    env = _CopyEnvironment(
        autoescape=html, undefined=ChainableUndefined, finalize=limits.finalize, loader=None, cache_size=0
    )
    env.globals.clear()  # no range, dict, lipsum, cycler, joiner, namespace
    env.filters = dict(limits.FILTERS)
    env.tests = dict(limits.TESTS)
    return env


_ENVIRONMENTS = {True: _environment(True), False: _environment(False)}

# --- Django-style filter arguments: `|default:"there"` -> `|default("there")`, same length of lines ---------

_STRING = r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'"
_TAG_START = re.compile(r"\{\{|\{%|\{#")
_RAW_START = re.compile(r"\{%[-+]?\s*raw\s*[-+]?%\}")
_RAW_END = re.compile(r"\{%[-+]?\s*endraw\s*[-+]?%\}")
_TAG_TOKEN = re.compile(
    r"(?P<filter>\|\s*[A-Za-z_]\w*):(?P<arg>" + _STRING + r"|-?\d+(?:\.\d+)?|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)"
    r"|(?P<string>" + _STRING + r")|(?P<space>\s+)|(?P<word>\w+)|(?P<other>.)",
    re.S,
)


def _django_filter_args(source: str) -> tuple[str, int]:
    """Returns the rewritten source and a rough count of tokens inside tags (compile time grows with it)."""
    out, pos, tokens = [], 0, 0
    while (start := _TAG_START.search(source, pos)) is not None:
        out.append(source[pos : start.start()])
        if start.group() == "{#":  # comments and {% raw %} blocks are copied untouched
            end = source.find("#}", start.end())
            pos = len(source) if end < 0 else end + 2
        elif raw := _RAW_START.match(source, start.start()):
            end = _RAW_END.search(source, raw.end())
            pos = end.end() if end else len(source)
        if pos > start.start():
            out.append(source[start.start() : pos])
            continue
        closer, pos = ("}}" if start.group() == "{{" else "%}"), start.end()
        out.append(start.group())
        while pos < len(source) and not source.startswith(closer, pos):
            m = _TAG_TOKEN.match(source, pos)
            if m["other"] in ("'", '"'):  # unterminated string: leave the rest to Jinja's error (and stay linear)
                return "".join(out) + source[pos:], tokens
            out.append(f"{m['filter']}({m['arg']})" if m["filter"] else m.group())
            tokens += 0 if m["space"] else 1
            pos = m.end()
    out.append(source[pos:])
    return "".join(out), tokens


# --- Allow-list over the parsed template -----------------------------------------------------------------

_ALLOWED_NODES = (
    *(nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Const, nodes.Getattr, nodes.Getitem),
    *(nodes.Slice, nodes.Filter, nodes.Test, nodes.If, nodes.For, nodes.Assign, nodes.Compare, nodes.Operand),
    *(nodes.And, nodes.Or, nodes.Not, nodes.CondExpr, nodes.Concat, nodes.Add, nodes.Sub, nodes.Mul, nodes.Div),
    *(nodes.FloorDiv, nodes.Mod, nodes.Neg, nodes.Pos, nodes.List, nodes.Tuple, nodes.Dict, nodes.Pair),
    nodes.Keyword,
)
_FORBIDDEN_NAMES = {
    nodes.Call: "calling functions or methods is not allowed",
    nodes.Macro: "{% macro %} is not allowed",
    nodes.CallBlock: "{% call %} is not allowed",
    nodes.Include: "{% include %} is not allowed",
    nodes.Import: "{% import %} is not allowed",
    nodes.FromImport: "{% from ... import %} is not allowed",
    nodes.Extends: "{% extends %} is not allowed",
    nodes.Block: "{% block %} is not allowed",
    nodes.With: "{% with %} is not allowed",
    nodes.FilterBlock: "{% filter %} blocks are not allowed",
    nodes.AssignBlock: "{% set %}...{% endset %} blocks are not allowed; use {% set x = ... %}",
    nodes.ScopedEvalContextModifier: "{% autoescape %} is not allowed",
    nodes.Scope: "{% autoescape %} is not allowed",
    nodes.Pow: "the ** operator is not allowed",
    nodes.NSRef: "namespace assignments are not allowed",
}
_SPECIAL_NAMES = frozenset({"self", "super", "caller", "varargs", "kwargs"})
_USER_FILTERS = frozenset(name for name in limits.FILTERS if not name.startswith("_"))


def _structure_problems(template: nodes.Template) -> list[CopyProblem]:
    """Forbidden constructs, filters, tests, names, numbers and nesting. Run at save time AND before compiling."""
    problems: list[CopyProblem] = []

    def refuse(node: nodes.Node, message: str) -> None:
        line = getattr(node, "lineno", None)  # Scope (from autoescape) has none: use its first child's
        line = line or next((child.lineno for child in node.find_all(nodes.Node) if child.lineno), None)
        problems.append(CopyProblem(line, message))

    loop_fields: set[int] = set()  # ids of `loop` names used as loop.<field>; a bare `loop` prints internals
    stack: list[tuple[nodes.Node, int, int]] = [(template, 0, 0)]  # iterative: no recursion on deep input
    while stack:
        node, depth, loops = stack.pop()
        if depth > limits.MAX_AST_DEPTH:
            refuse(node, "the template is nested too deeply")
            continue
        if not isinstance(node, _ALLOWED_NODES):
            default = f"'{type(node).__name__}' is not allowed in copy templates"
            refuse(node, next((m for t, m in _FORBIDDEN_NAMES.items() if isinstance(node, t)), default))
            continue
        name = None
        if isinstance(node, nodes.Name):
            name = node.name
            if name in _SPECIAL_NAMES:
                refuse(node, f"'{name}' is reserved and cannot be used")
            if name == "loop" and node.ctx == "load" and id(node) not in loop_fields:
                refuse(node, "use loop.index, loop.first, loop.last... rather than loop on its own")
        elif isinstance(node, nodes.Getattr):
            name = node.attr
            if isinstance(node.node, nodes.Name) and node.node.name == "loop":
                loop_fields.add(id(node.node))
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value if isinstance(node.arg.value, str) else None
        if name is not None and name.startswith("_"):
            refuse(node, f"names starting with '_' are not allowed ('{name}')")
        if isinstance(node, nodes.Filter | nodes.Test):
            kind, allowed = ("filter", _USER_FILTERS) if isinstance(node, nodes.Filter) else ("test", limits.TESTS)
            if node.name not in allowed:
                refuse(node, f"unknown or unsupported {kind} '{node.name}'")
            if node.dyn_args is not None or node.dyn_kwargs is not None:
                refuse(node, "*args and **kwargs are not allowed")
        elif isinstance(node, nodes.Const) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            if abs(node.value) > limits.MAX_NUMBER:
                refuse(node, f"numbers above {limits.MAX_NUMBER:,} are not allowed")
        elif isinstance(node, nodes.Pair) and not isinstance(node.key, nodes.Const):
            refuse(node, "mapping keys must be plain text or numbers")
        elif isinstance(node, nodes.For):
            if node.recursive:
                refuse(node, "recursive loops are not allowed")
            loops += 1
            if loops > limits.MAX_LOOP_NESTING:
                refuse(node, f"loops can be nested at most {limits.MAX_LOOP_NESTING} deep")
        stack.extend((child, depth + 1, loops) for child in node.iter_child_nodes())
    return problems


def _filter(node: nodes.Expr, name: str, args: list | None = None) -> nodes.Filter:
    wrapped = nodes.Filter(node, name, args or [], [], None, None, lineno=node.lineno)
    wrapped.set_environment(node.environment)
    return wrapped


class _Harden(NodeTransformer):
    """Rewrites the checked AST so the costly operations go through bounded functions at render time."""

    def visit_For(self, node: nodes.For) -> nodes.For:
        self.generic_visit(node)
        node.iter = _filter(node.iter, "_bounded_loop")
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Filter:
        self.generic_visit(node)
        items = nodes.List(node.nodes, lineno=node.lineno)
        items.set_environment(node.environment)
        return _filter(items, "_concat")

    def visit_Getitem(self, node: nodes.Getitem) -> nodes.Expr:
        self.generic_visit(node)
        if not isinstance(node.arg, nodes.Slice):
            return node
        parts = (node.arg.start, node.arg.stop, node.arg.step)
        bounds = [part or nodes.Const(None, lineno=node.lineno) for part in parts]
        for part in bounds:
            part.set_environment(node.environment)
        return _filter(node.node, "_slice", bounds)

    def visit_Compare(self, node: nodes.Compare) -> nodes.Compare:
        self.generic_visit(node)
        node.expr = _filter(node.expr, "_sized")
        for operand in node.ops:
            operand.expr = _filter(operand.expr, "_sized")
        return node


def _parse(source: str) -> nodes.Template:
    """Parse for either check or render; raises CopyTemplateError with a marketer-readable message."""
    if len(source) > limits.MAX_SOURCE_CHARS:
        raise CopyTemplateError(f"the template is longer than {limits.MAX_SOURCE_CHARS:,} characters")
    rewritten, tokens = _django_filter_args(source)
    if tokens > limits.MAX_TAG_TOKENS:  # parsing and compiling cost ~50 µs per token
        raise CopyTemplateError(
            "the template has too much code inside {{ }} and {% %} "
            f"(over {limits.MAX_TAG_TOKENS:,} words and symbols)"
        )
    try:
        return _ENVIRONMENTS[False].parse(rewritten)
    except TemplateSyntaxError as exc:
        raise CopyTemplateError(exc.message or "syntax error", exc.lineno) from None
    except RecursionError:
        raise CopyTemplateError("the template is nested too deeply") from None
    except Exception:  # e.g. ValueError from an integer literal with thousands of digits
        raise CopyTemplateError("the template could not be read") from None


@functools.lru_cache(maxsize=1024)
def _compile(source: str, html: bool):
    """Returns a Template or the CopyTemplateError to raise (cached too, so bad templates stay cheap)."""
    try:
        tree = _parse(source)
        if problems := _structure_problems(tree):
            return CopyTemplateError(problems[0].message, problems[0].line)
        env = _ENVIRONMENTS[html]
        tree.set_environment(env)
        return env.from_string(_Harden().visit(tree))
    except CopyTemplateError as exc:
        return exc
    except TemplateSyntaxError as exc:  # e.g. assigning to a special name, found while generating code
        return CopyTemplateError(exc.message or "syntax error", exc.lineno)
    except RecursionError:
        return CopyTemplateError("the template is nested too deeply")
    except Exception:  # e.g. SyntaxError/MemoryError from Python's compiler: never show internals
        return CopyTemplateError("the template could not be compiled")


def _template_line(exc: BaseException) -> int | None:
    line, tb = None, exc.__traceback__
    while tb is not None:  # Jinja rewrites template frames to show the template's own line numbers
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_copy_template(source: str, context: Mapping[str, Any], *, html: bool) -> str:
    """Render with autoescaping (html=True) or as plain text; raises CopyTemplateError on any failure or limit."""
    template = _compile(source, html)
    if isinstance(template, CopyTemplateError):
        raise CopyTemplateError(template.message, template.line)  # a fresh instance: the cached one is shared
    token, out, size = limits.start_deadline(limits.RENDER_DEADLINE_SECONDS), [], 0
    chunks = template.generate(dict(context))
    try:
        for chunk in chunks:
            size += len(chunk)
            if size > limits.MAX_OUTPUT_CHARS:
                raise CopyTemplateError(f"the output is longer than {limits.MAX_OUTPUT_CHARS:,} characters")
            limits.check_deadline()
            out.append(chunk)
    except CopyTemplateError as exc:
        exc.line = exc.line or _template_line(exc)
        raise
    except UndefinedError as exc:
        raise CopyTemplateError(f"a value is missing: {exc.message}", _template_line(exc)) from None
    except SecurityError:
        raise CopyTemplateError("that is not allowed in copy templates", None) from None
    except RecursionError:
        raise CopyTemplateError("the template is nested too deeply") from None
    except Exception as exc:  # never show Python internals to marketers
        raise CopyTemplateError("the template could not be rendered with these values", _template_line(exc)) from None
    finally:
        chunks.close()  # stop the template now, not when the generator is garbage-collected
        limits.reset_deadline(token)
    return "".join(out)


# --- Save-time checks against the schema of available variables ------------------------------------------


def _schema_problems(template: nodes.Template, schema: Mapping[str, Any]) -> list[CopyProblem]:
    bound = {"loop"}  # names bound by for/set anywhere are not checked
    for node in template.find_all((nodes.For, nodes.Assign)):
        bound.update(name.name for name in node.target.find_all(nodes.Name))
        if isinstance(node.target, nodes.Name):
            bound.add(node.target.name)
    problems: list[CopyProblem] = []
    stack: list[nodes.Node] = [template]
    while stack:
        node = stack.pop()
        if not isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Name):
            stack.extend(node.iter_child_nodes())
            continue
        steps: list[str | None] = []  # outermost first; None is an index or computed key
        while isinstance(node, nodes.Getattr | nodes.Getitem):
            if isinstance(node, nodes.Getattr):
                steps.append(node.attr)
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                steps.append(node.arg.value)
            else:
                steps.append(None)
                stack.append(node.arg)
            node = node.node
        if not isinstance(node, nodes.Name):
            stack.append(node)
        elif node.ctx == "load" and node.name not in bound:
            problems.extend(_check_path(node, list(reversed(steps)), schema))
    return problems


def _check_path(node: nodes.Name, steps: list[str | None], schema: Mapping[str, Any]) -> list[CopyProblem]:
    if node.name not in schema:
        close = difflib.get_close_matches(node.name, [str(k) for k in schema], n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return [CopyProblem(node.lineno, f"unknown variable '{node.name}'{hint}")]
    entry, path = schema[node.name], node.name
    for step in steps:
        if entry == "*" or step is None:  # open mapping, or list element / computed key: not checkable
            return []
        if not isinstance(entry, Mapping) or step not in entry:
            return [CopyProblem(node.lineno, f"unknown field '{path}.{step}'")]
        entry, path = entry[step], f"{path}.{step}"
    return []


def check_copy_template(source: str, *, schema: Mapping[str, Any]) -> list[CopyProblem]:
    """Save-time validation; [] means the template is fine. Problems are sorted by line."""
    try:
        tree = _parse(source)
    except CopyTemplateError as exc:
        return [CopyProblem(exc.line, exc.message)]
    problems = _structure_problems(tree)
    try:
        problems += _schema_problems(tree, schema)
    except RecursionError:
        problems.append(CopyProblem(None, "the template is nested too deeply"))
    if not problems and isinstance(error := _compile(source, True), CopyTemplateError):
        problems.append(CopyProblem(error.line, error.message))
    return sorted(problems, key=lambda p: (p.line or 0, p.message))
