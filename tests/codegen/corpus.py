"""Random pydantic models for the codegen corpus: a plan (plain data) drawn by hypothesis, then built into classes.

A plan is a tuple tree: ``("str", min, max, pattern)``, ``("int", ge, le)``, ``("float", ge, le)``, ``("bool",)``,
``("literal", values)``, ``("enum", values)``, ``("list", plan, max)``, ``("set", plan)``, ``("dict", plan)``,
``("optional", plan)``, ``("union", a, b)``, ``("model", fields, extra)`` with fields ``(name, alias, plan)``, and
``("tagged", model_a, model_b)`` (a union discriminated by ``kind``). `Built` turns a plan into an annotation and
a strategy of inputs that the annotation accepts; `allowed` says which JSON types a value of it may have.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, create_model

Plan = tuple[Any, ...]

_SAFE = 2**53 - 1
_PATTERNS = (r"^[a-z]+$", r"^[A-Z][a-z0-9]*$", r"^\d{2,4}(-\d{2})?$")
_TEXT = st.characters(codec="utf-8")  # no lone surrogates: they cannot be encoded
_KEYS = st.text("abcxyz_", min_size=1, max_size=4)
_names = itertools.count()
# Annotations built at run time: typed Any so that indexing them is not a type expression for mypy.
_LIST: Any = list
_SET: Any = set
_DICT: Any = dict
_ANNOTATED: Any = Annotated
_LITERAL: Any = Literal

_bounds = st.one_of(st.none(), st.integers(-1000, 1000))


@st.composite
def _str(draw: st.DrawFn) -> Plan:
    if draw(st.booleans()):
        return ("str", None, None, draw(st.sampled_from(_PATTERNS)))
    low = draw(st.one_of(st.none(), st.integers(0, 3)))
    high = draw(st.one_of(st.none(), st.integers(max(low or 0, 1), 8)))
    return ("str", low, high, None)


@st.composite
def _number(draw: st.DrawFn, kind: str) -> Plan:
    low, high = draw(_bounds), draw(_bounds)
    if low is not None and high is not None and low > high:
        low, high = high, low
    return (kind, low, high)


_LITERALS = st.lists(st.sampled_from(["a", "b", "on", "off", "x-y"]) | st.integers(0, 9), min_size=1, max_size=3)
_LEAVES = st.one_of(
    _str(),
    _number("int"),
    _number("float"),
    st.just(("bool",)),
    _LITERALS.map(lambda values: ("literal", tuple(dict.fromkeys(values)))),
    st.lists(st.sampled_from(["red", "green", "blue"]), min_size=1, max_size=3, unique=True).map(
        lambda values: ("enum", tuple(values))
    ),
    st.lists(st.integers(1, 5), min_size=1, max_size=3, unique=True).map(lambda values: ("enum", tuple(values))),
)


@st.composite
def fields(draw: st.DrawFn, inner: st.SearchStrategy[Plan], *, min_size: int = 1) -> tuple[tuple[Any, ...], ...]:
    plans = draw(st.lists(inner, min_size=min_size, max_size=4))
    out = []
    for index, plan in enumerate(plans):
        alias = draw(st.sampled_from([None, None, f"f-{index}", f"field{index}X"]))
        out.append((f"f{index}", alias, plan))
    return tuple(out)


def _extend(inner: st.SearchStrategy[Plan]) -> st.SearchStrategy[Plan]:
    model = st.tuples(st.just("model"), fields(inner), st.sampled_from(["forbid", "ignore", "allow"]))
    pair = st.tuples(fields(inner, min_size=0), fields(inner, min_size=0))
    scalar_pair = st.lists(
        st.sampled_from([("bool",), ("int", None, None), ("str", None, None, None)]),
        min_size=2,
        max_size=2,
        unique=True,
    )
    return st.one_of(
        st.tuples(st.just("list"), inner, st.sampled_from([None, 2, 4])),
        st.tuples(st.just("set"), st.sampled_from([("str", None, None, None), ("int", None, None)])),
        st.tuples(st.just("dict"), inner),
        st.tuples(st.just("optional"), inner),
        scalar_pair.map(lambda both: ("union", both[0], both[1])),
        st.tuples(st.just("union"), inner.filter(lambda p: p[0] == "list"), st.just(("int", None, None))),
        model,
        pair.map(lambda both: ("tagged", ("model", both[0], "forbid"), ("model", both[1], "forbid"))),
    )


PLANS: st.SearchStrategy[Plan] = st.recursive(_LEAVES, _extend, max_leaves=6)
"""A field type."""

EVENTS: st.SearchStrategy[tuple[tuple[Any, ...], ...]] = fields(PLANS)
"""The fields of an event (and of the client event built from the same plan)."""


def allowed(plan: Plan) -> frozenset[str]:
    """The JSON types a value of ``plan`` may have on the wire (``integer`` is also a ``number``)."""
    kind = plan[0]
    if kind == "str":
        return frozenset({"string"})
    if kind == "int":
        return frozenset({"integer"})
    if kind == "float":
        return frozenset({"number", "integer"})
    if kind == "bool":
        return frozenset({"boolean"})
    if kind in ("literal", "enum"):
        return frozenset("string" if isinstance(value, str) else "integer" for value in plan[1])
    if kind in ("list", "set"):
        return frozenset({"array"})
    if kind == "optional":
        return allowed(plan[1]) | {"null"}
    if kind == "union":
        return allowed(plan[1]) | allowed(plan[2])
    return frozenset({"object"})


@dataclass(frozen=True)
class Built:
    """A plan as a pydantic annotation and a strategy of inputs it accepts."""

    annotation: Any
    values: st.SearchStrategy[Any]


def build(plan: Plan, prefix: str) -> Built:
    """The annotation and input strategy of ``plan``; nested models and enums get names starting with ``prefix``."""
    kind = plan[0]
    if kind == "str":
        return _build_str(plan)
    if kind in ("int", "float"):
        _, low, high = plan
        constraints = Field(ge=low, le=high) if kind == "int" else Field(ge=low, le=high, allow_inf_nan=False)
        values: st.SearchStrategy[Any] = (
            st.integers(-_SAFE if low is None else low, _SAFE if high is None else high)
            if kind == "int"
            else st.floats(low, high, allow_nan=False, allow_infinity=False)
        )
        return Built(Annotated[int if kind == "int" else float, constraints], values)
    if kind == "bool":
        return Built(bool, st.booleans())
    if kind == "literal":
        return Built(_LITERAL[plan[1]], st.sampled_from(plan[1]))
    if kind == "enum":
        base = str if isinstance(plan[1][0], str) else int
        members = {f"V{value}".upper().replace("-", "_"): value for value in plan[1]}
        return Built(enum.Enum(f"{prefix}E{next(_names)}", members, type=base), st.sampled_from(plan[1]))
    return _build_composite(plan, prefix)


def _build_str(plan: Plan) -> Built:
    _, low, high, pattern = plan
    if pattern is not None:
        return Built(Annotated[str, Field(pattern=pattern)], st.from_regex(pattern, fullmatch=True))
    text = st.text(_TEXT, min_size=low or 0, max_size=4 if high is None else high)
    return Built(Annotated[str, Field(min_length=low, max_length=high)], text)


def _build_composite(plan: Plan, prefix: str) -> Built:
    kind = plan[0]
    if kind == "list":
        item = build(plan[1], prefix)
        return Built(
            _ANNOTATED[_LIST[item.annotation], Field(max_length=plan[2])], st.lists(item.values, max_size=plan[2] or 3)
        )
    if kind == "set":
        item = build(plan[1], prefix)
        return Built(_SET[item.annotation], st.sets(item.values, max_size=3))
    if kind == "dict":
        item = build(plan[1], prefix)
        return Built(_DICT[str, item.annotation], st.dictionaries(_KEYS, item.values, max_size=3))
    if kind == "optional":
        item = build(plan[1], prefix)
        return Built(item.annotation | None, st.none() | item.values)
    if kind == "union":
        a, b = build(plan[1], prefix), build(plan[2], prefix)
        return Built(a.annotation | b.annotation, a.values | b.values)
    if kind == "model":
        return model(plan[1], f"{prefix}M{next(_names)}", extra=plan[2])
    tags = [
        model(part[1], f"{prefix}M{next(_names)}", extra="forbid", tag=tag)
        for tag, part in zip("ab", plan[1:], strict=True)
    ]
    union = _ANNOTATED[tags[0].annotation | tags[1].annotation, Field(discriminator="kind")]
    return Built(union, tags[0].values | tags[1].values)


def model(
    plan_fields: tuple[tuple[Any, ...], ...],
    name: str,
    *,
    extra: str = "forbid",
    tag: str | None = None,
    base: type[BaseModel] | None = None,
    defaults: bool = False,
    cls_kwargs: dict[str, Any] | None = None,
) -> Built:
    """A model class of ``plan_fields`` and a strategy of input dicts for it (by alias).

    With ``defaults`` (for client events), every other field whose type has an obvious default gets it.
    """
    definitions: dict[str, Any] = {}
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    if tag is not None:
        definitions["kind"] = (_LITERAL[tag], ...)
        required["kind"] = st.just(tag)
    for index, (field_name, alias, plan) in enumerate(plan_fields):
        built = build(plan, name)
        key = alias or field_name
        default = _default(plan, built) if defaults and index % 2 == 0 else ...
        definitions[field_name] = (built.annotation, Field(default, alias=alias))
        (required if default is ... else optional)[key] = built.values
    config = None if base is not None else ConfigDict(extra=extra)  # type: ignore[typeddict-item]
    cls = create_model(
        name,
        __base__=base,
        __config__=config,
        __module__=__name__,
        __cls_kwargs__=cls_kwargs,
        **definitions,
    )
    return Built(cls, st.fixed_dictionaries(required, optional=optional))


_DEFAULTS: dict[str, Callable[[Plan, Any], Any]] = {
    "bool": lambda plan, annotation: False,
    "literal": lambda plan, annotation: plan[1][0],
    "enum": lambda plan, annotation: annotation(plan[1][0]),  # the member, as pydantic would hold it
    "optional": lambda plan, annotation: None,
}


def _default(plan: Plan, built: Built) -> Any:
    make = _DEFAULTS.get(plan[0])
    return ... if make is None else make(plan, built.annotation)
