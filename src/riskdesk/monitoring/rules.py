"""The rule language: a small typed expression language over indicators and attributes.

    return_rate_90d > 0.4 and returns_count_90d >= 5
    segment in ("b2b_sme", "consumer") and not (dpd_max <= 30)
    orders_amount_30d > 3 * coalesce(avg_order_value_365d, 0)

Text is tokenised and parsed into an AST (never ``eval``), then type-checked against the names a
rule may read; an unknown name or a type error is refused with its position (1-based column).
One AST is evaluated two ways that must agree: ``evaluate`` for one customer in plain Python,
``to_polars`` as one expression over every customer.

Missing values follow SQL's three-valued logic: arithmetic and comparisons with a missing value
are missing, ``and``/``or`` are Kleene, division by zero is missing, and a rule whose value is
missing does not fire.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from riskdesk.indicators.catalogue import NAMES

Type = Literal["number", "text", "bool"]

# What a rule may read, and its type.
ATTRIBUTES: dict[str, Type] = {
    "kind": "text",
    "segment": "text",
    "region": "text",
    "industry": "text",
    "risk_tier": "text",
    "rating": "text",
    "score": "number",
    "credit_limit": "number",
    "payment_terms_days": "number",
    "utilisation": "number",  # counted exposure / credit limit
    "score_drop": "number",  # the score held 90 days before the latest, minus the latest
    "rating_notches_down": "number",  # how many ratings the latest is below that one
    "bureau_score_drop": "number",  # the bureau score 90 days before the latest, minus it
    "tier_steps_worse": "number",  # risk tiers the latest is worse than the one 90 days before
    # How far the latest lies below the best of the last 180 days (clear expressions: recovery)
    "score_below_peak": "number",
    "rating_notches_below_best": "number",
    "bureau_below_peak": "number",
    "churn_p_alive": "number",  # BG/NBD's probability the customer still buys (3+ repeats)
    "churn_value_at_stake": "number",  # a quarter's expected purchases x P(gone), in CNY
}
VOCABULARY: dict[str, Type] = {**{n: "number" for n in NAMES}, **ATTRIBUTES}

KEYWORDS = {"and", "or", "not", "in", "true", "false"}
# Bounds that keep parsing and evaluation (both recursive) far from Python's recursion limit.
MAX_TOKENS = 256
MAX_NESTING = 32
FUNCTIONS: dict[str, tuple[int, int]] = {
    "abs": (1, 1),
    "min": (2, 8),
    "max": (2, 8),
    "coalesce": (2, 8),
}


class RuleError(ValueError):
    """A rule that cannot be accepted, with the 1-based column where the problem is."""

    def __init__(self, message: str, position: int, code: str = "invalid", **params: Any) -> None:
        super().__init__(f"column {position}: {message}")
        self.message = message
        self.position = position
        # What went wrong as a stable code and its values, for a screen in another language
        # (the UI's catalogue: rules.error.<code>); the message is the English sentence.
        self.code = code
        self.params = params


# ---------------------------------------------------------------- tokens

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
      | (?P<string>"[^"\\]*"|'[^'\\]*')
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op><=|>=|==|!=|<|>|\+|-|\*|/|\(|\)|,)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, op, end
    text: str
    position: int


def tokenize(text: str) -> list[Token]:
    """Split rule text into tokens; anything else is an error at its column."""
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        match = _TOKEN.match(text, i)
        if match is None or match.end() == i:
            raise RuleError(
                f"unexpected character {text[i]!r}", i + 1, "unexpected_character", found=text[i]
            )
        kind = match.lastgroup or "op"
        start = match.start(kind)
        tokens.append(Token(kind, match.group(kind), start + 1))
        i = match.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


# ---------------------------------------------------------------- AST


@dataclass(frozen=True)
class Node:
    position: int


@dataclass(frozen=True)
class Literal_(Node):
    value: float | str | bool


@dataclass(frozen=True)
class Name(Node):
    name: str


@dataclass(frozen=True)
class Unary(Node):
    op: str  # "-" or "not"
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str  # + - * / < <= > >= == != and or
    left: Node
    right: Node


@dataclass(frozen=True)
class In(Node):
    operand: Node
    options: tuple[float | str, ...]


@dataclass(frozen=True)
class Call(Node):
    function: str
    args: tuple[Node, ...]


# ---------------------------------------------------------------- parser


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def nested(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise RuleError(
                f"brackets nest more than {MAX_NESTING} deep",
                token.position,
                "too_deep",
                limit=MAX_NESTING,
            )

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def accept(self, text: str) -> Token | None:
        token = self.peek()
        if token.kind in ("op", "name") and token.text == text:
            return self.take()
        return None

    def expect(self, text: str) -> Token:
        token = self.peek()
        if token.kind in ("op", "name") and token.text == text:
            return self.take()
        shown = token.text or "the end"
        raise RuleError(
            f"expected {text!r}, found {shown!r}",
            token.position,
            "expected",
            expected=text,
            found=shown,
        )

    def parse(self) -> Node:
        node = self.or_()
        token = self.peek()
        if token.kind != "end":
            raise RuleError(
                f"unexpected {token.text!r}", token.position, "unexpected", found=token.text
            )
        return node

    def or_(self) -> Node:
        node = self.and_()
        while (token := self.accept("or")) is not None:
            node = Binary(token.position, "or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while (token := self.accept("and")) is not None:
            node = Binary(token.position, "and", node, self.not_())
        return node

    def not_(self) -> Node:
        if (token := self.accept("not")) is not None:
            return Unary(token.position, "not", self.not_())
        return self.comparison()

    def comparison(self) -> Node:
        node = self.sum_()
        token = self.peek()
        if token.kind == "op" and token.text in ("<", "<=", ">", ">=", "==", "!="):
            self.take()
            return Binary(token.position, token.text, node, self.sum_())
        if token.kind == "name" and token.text == "in":
            self.take()
            self.expect("(")
            options = [self.literal_option()]
            while self.accept(",") is not None:
                options.append(self.literal_option())
            self.expect(")")
            return In(token.position, node, tuple(options))
        return node

    def literal_option(self) -> float | str:
        token = self.take()
        if token.kind == "number":
            return float(token.text)
        if token.kind == "string":
            return token.text[1:-1]
        raise RuleError(
            f"expected a number or a quoted text, found {token.text!r}",
            token.position,
            "expected_literal",
            found=token.text,
        )

    def sum_(self) -> Node:
        node = self.product()
        while True:
            token = self.peek()
            if token.kind == "op" and token.text in ("+", "-"):
                self.take()
                node = Binary(token.position, token.text, node, self.product())
            else:
                return node

    def product(self) -> Node:
        node = self.unary()
        while True:
            token = self.peek()
            if token.kind == "op" and token.text in ("*", "/"):
                self.take()
                node = Binary(token.position, token.text, node, self.unary())
            else:
                return node

    def unary(self) -> Node:
        token = self.peek()
        if token.kind == "op" and token.text == "-":
            self.take()
            return Unary(token.position, "-", self.unary())
        return self.primary()

    def primary(self) -> Node:
        token = self.take()
        if token.kind == "number":
            return Literal_(token.position, float(token.text))
        if token.kind == "string":
            return Literal_(token.position, token.text[1:-1])
        if token.kind == "op" and token.text == "(":
            self.nested(token)
            node = self.or_()
            self.expect(")")
            self.depth -= 1
            return node
        if token.kind == "name":
            if token.text in ("true", "false"):
                return Literal_(token.position, token.text == "true")
            if token.text in KEYWORDS:
                raise RuleError(
                    f"unexpected {token.text!r}", token.position, "unexpected", found=token.text
                )
            if self.peek().kind == "op" and self.peek().text == "(":
                return self.call(token)
            return Name(token.position, token.text)
        shown = token.text or "the end"
        raise RuleError(
            f"expected a value, found {shown!r}", token.position, "expected_value", found=shown
        )

    def call(self, name: Token) -> Node:
        if name.text not in FUNCTIONS:
            raise RuleError(
                f"unknown function {name.text!r}; there are {', '.join(sorted(FUNCTIONS))}",
                name.position,
                "unknown_function",
                name=name.text,
                known=", ".join(sorted(FUNCTIONS)),
            )
        self.nested(self.expect("("))
        args = [self.or_()]
        while self.accept(",") is not None:
            args.append(self.or_())
        self.expect(")")
        self.depth -= 1
        low, high = FUNCTIONS[name.text]
        if not low <= len(args) <= high:
            raise RuleError(
                f"{name.text} takes {low if low == high else f'{low} to {high}'} arguments, "
                f"got {len(args)}",
                name.position,
                "arguments",
                function=name.text,
                takes=low if low == high else f"{low}-{high}",
                got=len(args),
            )
        return Call(name.position, name.text, tuple(args))


def parse(text: str) -> Node:
    """The AST of rule text (syntax only)."""
    if len(text) > 4000:
        raise RuleError("a rule is at most 4000 characters", 4001, "too_long", limit=4000)
    tokens = tokenize(text)
    if len(tokens) > MAX_TOKENS + 1:  # the end marker does not count
        raise RuleError(
            f"a rule is at most {MAX_TOKENS} words",
            tokens[MAX_TOKENS].position,
            "too_many_words",
            limit=MAX_TOKENS,
        )
    return _Parser(tokens).parse()


# ---------------------------------------------------------------- types


def check(node: Node, vocabulary: Mapping[str, Type] = VOCABULARY) -> Type:
    """The type of an expression; unknown names and type errors are refused."""
    if isinstance(node, Literal_):
        if isinstance(node.value, bool):
            return "bool"
        return "text" if isinstance(node.value, str) else "number"
    if isinstance(node, Name):
        if node.name not in vocabulary:
            raise RuleError(
                f"unknown name {node.name!r}", node.position, "unknown_name", name=node.name
            )
        return vocabulary[node.name]
    if isinstance(node, Unary):
        inner = check(node.operand, vocabulary)
        want: Type = "bool" if node.op == "not" else "number"
        if inner != want:
            raise RuleError(
                f"'{node.op}' needs a {want}, not a {inner}",
                node.position,
                "operand_type",
                op=node.op,
                want=want,
                got=inner,
            )
        return want
    if isinstance(node, In):
        inner = check(node.operand, vocabulary)
        for option in node.options:
            kind: Type = "text" if isinstance(option, str) else "number"
            if kind != inner:
                raise RuleError(
                    f"'in' compares a {inner} with a {kind}",
                    node.position,
                    "compares",
                    op="in",
                    left=inner,
                    right=kind,
                )
        return "bool"
    if isinstance(node, Call):
        kinds = [check(a, vocabulary) for a in node.args]
        if node.function == "coalesce":
            if len(set(kinds)) != 1:
                raise RuleError(
                    "coalesce needs arguments of one type", node.position, "coalesce_types"
                )
            return kinds[0]
        for kind in kinds:
            if kind != "number":
                raise RuleError(
                    f"{node.function} needs numbers, not a {kind}",
                    node.position,
                    "function_numbers",
                    function=node.function,
                    got=kind,
                )
        return "number"
    assert isinstance(node, Binary)
    left, right = check(node.left, vocabulary), check(node.right, vocabulary)
    if node.op in ("and", "or"):
        if left != "bool" or right != "bool":
            raise RuleError(
                f"'{node.op}' joins conditions, not a {left} and a {right}",
                node.position,
                "joins",
                op=node.op,
                left=left,
                right=right,
            )
        return "bool"
    if node.op in ("+", "-", "*", "/"):
        if left != "number" or right != "number":
            raise RuleError(
                f"'{node.op}' needs numbers, not a {left} and a {right}",
                node.position,
                "arithmetic",
                op=node.op,
                left=left,
                right=right,
            )
        return "number"
    if left != right:
        raise RuleError(
            f"'{node.op}' compares a {left} with a {right}",
            node.position,
            "compares",
            op=node.op,
            left=left,
            right=right,
        )
    if node.op not in ("==", "!=") and left != "number":
        raise RuleError(
            f"'{node.op}' orders numbers, not a {left}",
            node.position,
            "orders",
            op=node.op,
            got=left,
        )
    return "bool"


def names(node: Node) -> set[str]:
    """The names an expression reads."""
    if isinstance(node, Name):
        return {node.name}
    if isinstance(node, Unary):
        return names(node.operand)
    if isinstance(node, In):
        return names(node.operand)
    if isinstance(node, Call):
        return set().union(*(names(a) for a in node.args))
    if isinstance(node, Binary):
        return names(node.left) | names(node.right)
    return set()


@dataclass(frozen=True)
class Rule:
    """A checked rule: its text, AST and the names it reads."""

    text: str
    ast: Node
    reads: frozenset[str]


def compile_rule(text: str, vocabulary: Mapping[str, Type] = VOCABULARY) -> Rule:
    """Parse and type-check a rule; it must be a condition."""
    ast = parse(text)
    kind = check(ast, vocabulary)
    if kind != "bool":
        raise RuleError(
            f"a rule must be a condition (true or false), not a {kind}",
            1,
            "not_condition",
            got=kind,
        )
    return Rule(text, ast, frozenset(names(ast)))


# ---------------------------------------------------------------- one customer (Python)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def evaluate(node: Node, row: Mapping[str, Any]) -> Any:
    """The value of an expression for one customer (None when missing)."""
    if isinstance(node, Literal_):
        return node.value
    if isinstance(node, Name):
        value = row.get(node.name)
        return None if _missing(value) else value
    if isinstance(node, Unary):
        inner = evaluate(node.operand, row)
        if inner is None:
            return None
        return (not inner) if node.op == "not" else -inner
    if isinstance(node, In):
        inner = evaluate(node.operand, row)
        return None if inner is None else inner in node.options
    if isinstance(node, Call):
        values = [evaluate(a, row) for a in node.args]
        if node.function == "coalesce":
            return next((v for v in values if v is not None), None)
        if any(v is None for v in values):
            return None
        if node.function == "abs":
            return abs(values[0])
        return min(values) if node.function == "min" else max(values)
    assert isinstance(node, Binary)
    left = evaluate(node.left, row)
    if node.op in ("and", "or"):
        right = evaluate(node.right, row)
        if node.op == "and":
            if left is False or right is False:
                return False
            return None if left is None or right is None else True
        if left is True or right is True:
            return True
        return None if left is None or right is None else False
    right = evaluate(node.right, row)
    if left is None or right is None:
        return None
    if node.op == "+":
        return left + right
    if node.op == "-":
        return left - right
    if node.op == "*":
        return left * right
    if node.op == "/":
        return None if right == 0 else left / right
    return _COMPARE[node.op](left, right)


def fires(rule: Rule, row: Mapping[str, Any]) -> bool:
    """True when the rule holds for the customer (missing: it does not)."""
    return evaluate(rule.ast, row) is True


# ---------------------------------------------------------------- everyone (Polars)


_NULL_NUMBER = pl.lit(None, dtype=pl.Float64)


def to_polars(node: Node) -> pl.Expr:
    """The same expression over a frame with one column per name."""
    if isinstance(node, Literal_):
        return pl.lit(node.value)
    if isinstance(node, Name):
        column = pl.col(node.name)
        if VOCABULARY.get(node.name) == "number":
            return column.cast(pl.Float64).fill_nan(None)
        return column
    if isinstance(node, Unary):
        inner = to_polars(node.operand)
        return ~inner if node.op == "not" else -inner
    if isinstance(node, In):
        return to_polars(node.operand).is_in(list(node.options))
    if isinstance(node, Call):
        args = [to_polars(a) for a in node.args]
        if node.function == "coalesce":
            return pl.coalesce(args)
        if node.function == "abs":
            return args[0].abs()
        # Missing if any argument is: unlike Polars' min/max_horizontal, which skip nulls.
        any_missing = pl.any_horizontal([a.is_null() for a in args])
        combined = pl.min_horizontal(args) if node.function == "min" else pl.max_horizontal(args)
        # A typed null in an explicit otherwise: Polars 2.1 returns one row for
        # ``lit < when(...).then(x)`` over an all-null column.
        return pl.when(~any_missing).then(combined).otherwise(_NULL_NUMBER)
    assert isinstance(node, Binary)
    left, right = to_polars(node.left), to_polars(node.right)
    match node.op:
        case "and":
            return left & right
        case "or":
            return left | right
        case "+":
            return left + right
        case "-":
            return left - right
        case "*":
            return left * right
        case "/":
            return pl.when(right != 0).then(left / right).otherwise(_NULL_NUMBER)
        case "<":
            return left < right
        case "<=":
            return left <= right
        case ">":
            return left > right
        case ">=":
            return left >= right
        case "==":
            return left == right
        case _:
            return left != right


def fires_frame(rule: Rule, frame: pl.DataFrame) -> pl.Series:
    """For every row of ``frame``: does the rule hold (missing: no)."""
    # with_columns, not select: a rule without names (a literal) still gives one value per row.
    # Through the lazy engine: Polars 2.1's eager with_columns returns one row for some
    # comparisons of a literal with a when/then over an all-null column.
    fired = frame.lazy().with_columns(to_polars(rule.ast).fill_null(False).alias("__fires"))
    return fired.collect()["__fires"].alias("fires")
