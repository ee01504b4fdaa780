"""A small, safe expression language for sweep constraints and result filters.

Constraints such as ``hardware.total_macs <= 1024`` or
``workload.sparsity >= 0.8 and hardware.allocation.policy != "static"`` are parsed here into a
tree of tuples and evaluated against a lookup function; nothing is ever passed to Python's
``eval``, no attribute of any object is reachable except through the lookup, and strings
never take part in arithmetic (so no expression can build a huge value).

Grammar (lowest precedence first)::

    expr    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := sum (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in") sum)*
    sum     := term (("+" | "-") term)*
    term    := unary (("*" | "/" | "//" | "%") unary)*
    unary   := "-" unary | "+" unary | power
    power   := atom ("**" unary)?
    atom    := NUMBER | STRING | "true" | "false" | "null" | NAME | NAME "(" args ")"
             | "[" args "]" | "(" expr ")"

``NAME`` is a dotted name (``hardware.dram.bandwidth_gb_per_s``, ``latency_ms``) whose parts
start with a letter (so no ``__dunder__`` name can even be written); a chained
comparison (``0.5 <= workload.sparsity < 0.9``) means what it does in Python. Functions:
``min``, ``max``, ``abs``, ``sqrt``, ``log2``, ``log10``, ``ceil``, ``floor``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vitsim.errors import VitsimError

MAX_LENGTH = 2000  # characters; keeps the recursive-descent parser's depth bounded

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>"[^"\\]*"|'[^'\\]*')
  | (?P<name>[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*)
  | (?P<op>\*\*|//|==|!=|<=|>=|[-+*/%<>(),\[\]])
""", re.VERBOSE)

_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}
_CONSTANTS = {"true": True, "false": False, "null": None}


def _log(fn: Callable[[float], float]) -> Callable[[float], float]:
    def checked(x: float) -> float:
        if x <= 0:
            raise ValueError(f"logarithm of {x!r}")
        return fn(x)
    return checked


FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int | None]] = {
    # name: (function, fewest arguments, most arguments or None = any)
    "min": (min, 1, None),
    "max": (max, 1, None),
    "abs": (abs, 1, 1),
    "sqrt": (math.sqrt, 1, 1),
    "log2": (_log(math.log2), 1, 1),
    "log10": (_log(math.log10), 1, 1),
    "ceil": (math.ceil, 1, 1),
    "floor": (math.floor, 1, 1),
}


class ExpressionError(VitsimError):
    """An expression that cannot be parsed or evaluated (the message says where)."""


@dataclass(frozen=True)
class _Tok:
    kind: str  # number | string | name | op | keyword | end
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ExpressionError(f"unexpected character {text[pos]!r} at column {pos + 1} "
                                  f"in {text!r}")
        kind = m.lastgroup or ""
        if kind != "ws":
            word = m.group()
            if kind == "name" and word in _KEYWORDS:
                kind = "keyword"
            tokens.append(_Tok(kind, word, pos))
        pos = m.end()
    tokens.append(_Tok("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.names: list[str] = []

    # -- helpers ------------------------------------------------------------------------
    @property
    def tok(self) -> _Tok:
        return self.tokens[self.i]

    def _fail(self, what: str) -> ExpressionError:
        tok = self.tok
        found = "end of expression" if tok.kind == "end" else repr(tok.text)
        return ExpressionError(f"{what}, found {found} at column {tok.pos + 1} in {self.text!r}")

    def _accept(self, *texts: str) -> str | None:
        tok = self.tok
        if tok.kind in ("op", "keyword") and tok.text in texts:
            self.i += 1
            return tok.text
        return None

    def _expect(self, text: str) -> None:
        if self._accept(text) is None:
            raise self._fail(f"expected {text!r}")

    # -- grammar ------------------------------------------------------------------------
    def parse(self) -> tuple:
        node = self._or()
        if self.tok.kind != "end":
            raise self._fail("expected an operator or the end")
        return node

    def _or(self) -> tuple:
        items = [self._and()]
        while self._accept("or"):
            items.append(self._and())
        return items[0] if len(items) == 1 else ("or", tuple(items))

    def _and(self) -> tuple:
        items = [self._not()]
        while self._accept("and"):
            items.append(self._not())
        return items[0] if len(items) == 1 else ("and", tuple(items))

    def _not(self) -> tuple:
        if self._accept("not"):
            return ("not", self._not())
        return self._compare()

    def _compare(self) -> tuple:
        first = self._sum()
        ops: list[str] = []
        operands = [first]
        while True:
            op = self._accept("==", "!=", "<", "<=", ">", ">=", "in")
            if op is None and self.tok.kind == "keyword" and self.tok.text == "not" \
                    and self.tokens[self.i + 1].text == "in":
                self.i += 2
                op = "not in"
            if op is None:
                break
            ops.append(op)
            operands.append(self._sum())
        return first if not ops else ("cmp", tuple(ops), tuple(operands))

    def _sum(self) -> tuple:
        node = self._term()
        while (op := self._accept("+", "-")) is not None:
            node = ("bin", op, node, self._term())
        return node

    def _term(self) -> tuple:
        node = self._unary()
        while (op := self._accept("*", "/", "//", "%")) is not None:
            node = ("bin", op, node, self._unary())
        return node

    def _unary(self) -> tuple:
        if (op := self._accept("-", "+")) is not None:
            return ("neg" if op == "-" else "pos", self._unary())
        return self._power()

    def _power(self) -> tuple:
        node = self._atom()
        if self._accept("**"):
            node = ("bin", "**", node, self._unary())
        return node

    def _atom(self) -> tuple:
        tok = self.tok
        if tok.kind == "number":
            self.i += 1
            value = float(tok.text) if any(c in tok.text for c in ".eE") else int(tok.text)
            return ("const", value)
        if tok.kind == "string":
            self.i += 1
            return ("const", tok.text[1:-1])
        if tok.kind == "keyword" and tok.text in _CONSTANTS:
            self.i += 1
            return ("const", _CONSTANTS[tok.text])
        if tok.kind == "name":
            self.i += 1
            if self._accept("("):
                if tok.text not in FUNCTIONS:
                    raise ExpressionError(f"unknown function {tok.text!r}; functions: "
                                          f"{', '.join(FUNCTIONS)} (in {self.text!r})")
                args = self._args(")")
                _, lo, hi = FUNCTIONS[tok.text]
                if len(args) < lo or (hi is not None and len(args) > hi):
                    raise ExpressionError(f"{tok.text}() takes {lo if hi == lo else f'{lo}+'} "
                                          f"argument(s), got {len(args)} (in {self.text!r})")
                return ("call", tok.text, args)
            self.names.append(tok.text)
            return ("name", tok.text)
        if self._accept("["):
            return ("list", self._args("]"))
        if self._accept("("):
            node = self._or()
            self._expect(")")
            return node
        raise self._fail("expected a number, string, name or '('")

    def _args(self, close: str) -> tuple:
        args: list[tuple] = []
        if self._accept(close):
            return ()
        while True:
            args.append(self._or())
            if self._accept(close):
                return tuple(args)
            self._expect(",")


@dataclass(frozen=True)
class Expression:
    """A parsed expression: ``text`` as written, the dotted ``names`` it reads, its tree."""

    text: str
    names: tuple[str, ...]
    tree: tuple

    def evaluate(self, lookup: Callable[[str], Any]) -> Any:
        """The value of the expression, reading every name through ``lookup(name)``."""
        try:
            return _eval(self.tree, lookup)
        except ExpressionError as err:
            raise ExpressionError(f"{err.message} (in {self.text!r})") from None

    def test(self, lookup: Callable[[str], Any]) -> bool:
        """Evaluate a condition; a result that is not true or false is an error."""
        value = self.evaluate(lookup)
        if not isinstance(value, bool):
            raise ExpressionError(f"a condition must be true or false, got {value!r} "
                                  f"(in {self.text!r})")
        return value


def parse_expression(text: str) -> Expression:
    """Parse ``text``; a syntax error names the column and the token found there."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError(f"expected a non-empty expression, got {text!r}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    parser = _Parser(text)
    tree = parser.parse()
    return Expression(text, tuple(dict.fromkeys(parser.names)), tree)


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _number(x: Any, op: str) -> float:
    if not _is_number(x):
        raise ExpressionError(f"{op!r} needs numbers, got {_kind(x)} {x!r}")
    return x


def _kind(x: Any) -> str:
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "boolean"
    if isinstance(x, str):
        return "string"
    if _is_number(x):
        return "number"
    if isinstance(x, tuple):
        return "list"
    return type(x).__name__


def _arith(op: str, a: Any, b: Any) -> Any:
    a, b = _number(a, op), _number(b, op)
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b
        if op == "//":
            return a // b
        if op == "%":
            return a % b
        # Powers in floating point: an integer power could grow without bound.
        result = float(a) ** float(b)
    except ZeroDivisionError:
        raise ExpressionError(f"division by zero in {a!r} {op} {b!r}") from None
    except OverflowError:
        raise ExpressionError(f"{a!r} {op} {b!r}: result too large") from None
    if isinstance(result, complex):
        raise ExpressionError(f"{a!r} {op} {b!r}: not a real number")
    return result


def _compare(op: str, a: Any, b: Any) -> bool:
    if op in ("in", "not in"):
        if not isinstance(b, tuple):
            raise ExpressionError(f"'{op}' needs a list on its right, got {_kind(b)} {b!r}")
        found = any(_equal(a, x) for x in b)
        return found if op == "in" else not found
    if op == "==":
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    ordered = (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str))
    if not ordered:
        raise ExpressionError(f"cannot order {_kind(a)} {a!r} and {_kind(b)} {b!r} with {op!r}")
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _equal(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return a == b
    return type(a) is type(b) and a == b


def _truth(x: Any, op: str) -> bool:
    if not isinstance(x, bool):
        raise ExpressionError(f"{op!r} needs true or false, got {_kind(x)} {x!r}")
    return x


def _eval(node: tuple, lookup: Callable[[str], Any]) -> Any:
    kind = node[0]
    if kind == "const":
        return node[1]
    if kind == "name":
        return lookup(node[1])
    if kind == "list":
        return tuple(_eval(n, lookup) for n in node[1])
    if kind == "or":
        return any(_truth(_eval(n, lookup), "or") for n in node[1])
    if kind == "and":
        return all(_truth(_eval(n, lookup), "and") for n in node[1])
    if kind == "not":
        return not _truth(_eval(node[1], lookup), "not")
    if kind == "neg":
        return -_number(_eval(node[1], lookup), "-")
    if kind == "pos":
        return _number(_eval(node[1], lookup), "+")
    if kind == "bin":
        return _arith(node[1], _eval(node[2], lookup), _eval(node[3], lookup))
    if kind == "cmp":
        ops, operands = node[1], node[2]
        left = _eval(operands[0], lookup)
        for op, operand in zip(ops, operands[1:], strict=True):
            right = _eval(operand, lookup)
            if not _compare(op, left, right):
                return False
            left = right
        return True
    if kind == "call":
        fn = FUNCTIONS[node[1]][0]
        args = [_number(_eval(n, lookup), node[1]) for n in node[2]]
        try:
            return fn(*args)
        except (ValueError, OverflowError) as err:
            raise ExpressionError(f"{node[1]}({', '.join(map(repr, args))}): {err}") from None
    raise AssertionError(f"unknown node {kind}")
