"""The sweep constraint language: a small safe expression language, never Python's eval."""

from __future__ import annotations

import pytest

from vitsim.analysis.sweeps.expr import ExpressionError, parse_expression

ENV = {
    "hardware.total_macs": 512,
    "hardware.dram.bandwidth_gb_per_s": 76.8,
    "hardware.allocation.policy": "proportional",
    "workload.sparsity": 0.9,
    "workload.model": "deit-tiny",
    "flag": True,
}


def value(text: str):
    return parse_expression(text).evaluate(ENV.__getitem__)


@pytest.mark.parametrize(("text", "expected"), [
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("2 ** 3 ** 2", 512.0),  # right-associative, in floating point
    ("-2 ** 2", -4.0),
    ("7 // 2 + 7 % 2", 4),
    ("10 / 4", 2.5),
    ("1e3 + .5", 1000.5),
    ("hardware.total_macs <= 1024", True),
    ("hardware.total_macs * 2 > 1024", False),
    ("0.5 <= workload.sparsity < 0.95", True),
    ("0.5 <= workload.sparsity < 0.9", False),
    ("hardware.allocation.policy == 'proportional'", True),
    ('hardware.allocation.policy in ["static", "search"]', False),
    ('workload.model not in ["deit-base"]', True),
    ("not flag or hardware.total_macs == 512", True),
    ("flag and not (workload.sparsity > 0.95)", True),
    ("min(hardware.total_macs, 100) + max(1, 2, 3)", 103),
    ("log2(hardware.total_macs)", 9.0),
    ("ceil(2.1) + floor(2.9) + abs(-1) + sqrt(16)", 10.0),
    ("true == true and null == null", True),
    ("1 == 1.0", True),
    ("'1' == 1", False),
])
def test_values(text: str, expected) -> None:
    assert value(text) == expected


def test_names_are_collected_in_order() -> None:
    expr = parse_expression("workload.sparsity > 0.5 and hardware.total_macs < 2 * "
                            "hardware.total_macs")
    assert expr.names == ("workload.sparsity", "hardware.total_macs")


@pytest.mark.parametrize(("text", "message"), [
    ("1 +", "expected a number, string, name or '(', found end of expression at column 4"),
    ("(1 + 2", "expected ')'"),
    ("a $ b", "unexpected character '$' at column 3"),
    ("a b", "expected an operator or the end, found 'b' at column 3"),
    ("open('x')", "unknown function 'open'"),
    ("min()", "min() takes 1+ argument(s), got 0"),
    ("abs(1, 2)", "abs() takes 1 argument(s), got 2"),
    ("a.__class__", "unexpected character '.' at column 2"),  # no dunder name segments
    ("", "expected a non-empty expression"),
])
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=_escape(message)):
        parse_expression(text)


@pytest.mark.parametrize(("text", "message"), [
    ("workload.model * 3", "'*' needs numbers, got string 'deit-tiny'"),
    ("workload.model < 3", "cannot order string 'deit-tiny' and number 3"),
    ("1 / 0", "division by zero"),
    ("10.0 ** 400", "result too large"),
    ("(-8) ** 0.5", "not a real number"),
    ("workload.sparsity and flag", "'and' needs true or false, got number 0.9"),
    ("1 in 2", "'in' needs a list on its right"),
    ("log2(0)", "log2(0)"),
])
def test_evaluation_errors_name_the_expression(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=_escape(message)) as info:
        value(text)
    assert repr(text) in str(info.value)


def test_condition_must_be_boolean() -> None:
    with pytest.raises(ExpressionError, match="a condition must be true or false, got 512"):
        parse_expression("hardware.total_macs").test(ENV.__getitem__)
    assert parse_expression("hardware.total_macs == 512").test(ENV.__getitem__) is True


def test_too_long_is_refused() -> None:
    with pytest.raises(ExpressionError, match="longer than"):
        parse_expression("1 + " * 1000 + "1")


def _escape(text: str) -> str:
    import re

    return re.escape(text)
