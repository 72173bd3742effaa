"""SQL building blocks of the engine's OTLP decode (`otlp_decode.py`): expressions that turn OTLP `AnyValue`
tuples into the texts and JSON the Python decoder makes (`semconv.to_text`, floats as Python's repr), parse numbers
as `float()` does, cut long texts at a byte limit with the truncation marker, and read tags. Each function takes
SQL expressions as text and returns one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence


def q(text: str) -> str:
    """A string literal (our own constants only: table entries, never request data)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def strings(items: Sequence[str]) -> str:
    return "[" + ", ".join(q(i) for i in items) + "]::Array(String)"


def py_float(x: str) -> str:
    """Python's repr() of a Float64: the engine's shortest digits, laid out as Python does (fixed notation for
    1e-4 <= |x| < 1e16 with at least one decimal, else d.ddde±XX)."""
    # s: the engine's text of |x| (fixed, or scientific as 1.5e-7 / 1e21); d: its digits; n: the exponent.
    digits = ("multiIf(position(s, 'e') > 0, replaceOne(splitByChar('e', s)[1], '.', ''), position(s, '.') > 0, "
              "trim(LEADING '0' FROM substring(s, 3)), trim(TRAILING '0' FROM s))")
    exponent = ("multiIf(position(s, 'e') > 0, toInt32(splitByChar('e', s)[2]), position(s, '.') > 0, "
                "toInt32(length(trim(LEADING '0' FROM substring(s, 3)))) - toInt32(length(s)) + 1, "
                "toInt32(length(s)) - 1)")
    scientific = ("concat(if(length(d) = 1, d, concat(substring(d, 1, 1), '.', substring(d, 2))), 'e', "
                  "if(n < 0, '-', '+'), if(abs(n) < 10, '0', ''), toString(abs(n)))")
    return (f"multiIf(isNaN({x}), 'nan', isInfinite({x}), if({x} > 0, 'inf', '-inf'), "
            f"{x} = 0 OR (abs({x}) >= 1e-4 AND abs({x}) < 1e16), "
            f"if(position(toString({x}), '.') > 0, toString({x}), concat(toString({x}), '.0')), "
            f"concat(if({x} < 0, '-', ''), {expand(scientific, x, digits, exponent)}))")


def expand(scientific: str, x: str, digits: str, exponent: str) -> str:
    """Substitute s, d and n into the scientific layout (plain expressions: a lambda here would run for every
    attribute value, doubles or not; the engine computes repeated subexpressions once)."""
    s = f"toString(abs({x}))"
    d = re.sub(r"\bs\b", s, digits)
    n = re.sub(r"\bs\b", s, exponent)
    return re.sub(r"\bn\b", n, re.sub(r"\bd\b", d, scientific))


def json_float(x: str) -> str:
    return f"multiIf(isNaN({x}), 'NaN', isInfinite({x}), if({x} > 0, 'Infinity', '-Infinity'), {py_float(x)})"


def _leaf_none(v: str) -> str:
    return (f"({v}.string_value IS NULL AND {v}.bool_value IS NULL AND {v}.int_value IS NULL AND "
            f"{v}.double_value IS NULL AND {v}.bytes_value IS NULL)")


def any_none(v: str) -> str:
    return f"({_leaf_none(v)} AND empty({v}.array_value.values) AND empty({v}.kvlist_value.values))"


def leaf_text(v: str) -> str:
    """`to_text(_pb_value(v))` for a scalar AnyValue (bytes → base64, as the protobuf decoder gives them)."""
    return (f"multiIf({v}.string_value IS NOT NULL, assumeNotNull({v}.string_value), {v}.bool_value IS NOT NULL, "
            f"if(assumeNotNull({v}.bool_value), 'true', 'false'), {v}.int_value IS NOT NULL, "
            f"toString(assumeNotNull({v}.int_value)), {v}.double_value IS NOT NULL, "
            f"{py_float(f'assumeNotNull({v}.double_value)')}, {v}.bytes_value IS NOT NULL, "
            f"base64Encode(assumeNotNull({v}.bytes_value)), 'null')")


def leaf_json(v: str, *, strings: bool = True, double: str = "") -> str:
    """`json.dumps(_pb_value(v), ensure_ascii=False)` for a scalar AnyValue (`double`: its double's JSON, when
    already formatted)."""
    string = f"toJSONString(assumeNotNull({v}.string_value))" if strings else "''"
    double = double or json_float(f"assumeNotNull({v}.double_value)")
    return (f"multiIf({v}.string_value IS NOT NULL, {string}, "
            f"{v}.bool_value IS NOT NULL, if(assumeNotNull({v}.bool_value), 'true', 'false'), "
            f"{v}.int_value IS NOT NULL, toString(assumeNotNull({v}.int_value)), {v}.double_value IS NOT NULL, "
            f"{double}, {v}.bytes_value IS NOT NULL, "
            f"toJSONString(base64Encode(assumeNotNull({v}.bytes_value))), 'null')")


def _array_json(v: str) -> str:
    return f"concat('[', arrayStringConcat(arrayMap(el -> {leaf_json('el')}, {v}.array_value.values), ', '), ']')"


def _kvlist_json(v: str) -> str:
    member = f"concat(toJSONString(ekv.key), ': ', {leaf_json('ekv.value')})"
    return f"concat('{{', arrayStringConcat(arrayMap(ekv -> {member}, {v}.kvlist_value.values), ', '), '}}')"


def any_json(v: str, *, strings: bool = True, double: str = "") -> str:
    """JSON of an AnyValue; without `strings`, a string value gives "" (inside a lambda every branch runs for
    every element, and escaping every payload to throw it away is most of the cost)."""
    leaf = leaf_json(v, strings=strings, double=double)
    return (f"if(NOT {_leaf_none(v)}, {leaf}, multiIf(notEmpty({v}.array_value.values), "
            f"{_array_json(v)}, notEmpty({v}.kvlist_value.values), {_kvlist_json(v)}, 'null'))")


def truncate(text: str, limit: int, lower_bound: int = 0) -> str:
    """`semconv.truncate(text, limit)`: cut at `limit` bytes on a character boundary, with the marker. A value
    of at most `lower_bound` characters is never cut (append_span only truncates longer ones)."""
    floor = max(limit // 4, lower_bound)
    byte = "bitAnd(reinterpretAsUInt8(substring({t}, {i}, 1)), 192) = 128"
    keep = "multiIf(" + ", ".join(f"NOT {byte.format(t=text, i=limit + 1 - k)}, {limit - k}" for k in range(4)) + \
        f", {limit - 4})"
    return (f"if(length({text}) > {limit} AND lengthUTF8({text}) > {floor}, concat(substring({text}, 1, {keep}), "
            f"'…[truncated by neon: ', toString(lengthUTF8({text})), ' characters]'), {text})")


def cut_text(text: str, limit: str) -> str:
    """The truncated form of `text` (which is longer than `limit` bytes; `limit` may be an expression)."""
    byte = "bitAnd(reinterpretAsUInt8(substring({t}, {i}, 1)), 192) = 128"
    keep = "multiIf(" + ", ".join(f"NOT {byte.format(t=text, i=f'({limit}) + {1 - k}')}, ({limit}) - {k}"
                                  for k in range(4)) + f", ({limit}) - 4)"
    return (f"concat(substring({text}, 1, {keep}), '…[truncated by neon: ', toString(lengthUTF8({text})), "
            "' characters]')")


def truncated(text: str, limit: int, lower_bound: int = 0) -> str:
    floor = max(limit // 4, lower_bound)
    return f"(length({text}) > {limit} AND lengthUTF8({text}) > {floor})"


def number(v: str) -> str:
    """`_float`'s reading of a value: int and double as they are, a string parsed, anything else NULL."""
    return (f"multiIf({v}.int_value IS NOT NULL, toFloat64(assumeNotNull({v}.int_value)), {v}.double_value IS NOT "
            f"NULL, {v}.double_value, {v}.string_value IS NOT NULL, "
            f"toFloat64OrNull(trimBoth(if(length(assumeNotNull({v}.string_value)) <= {MAX_NUMBER_TEXT}, "
            f"assumeNotNull({v}.string_value), ''))), NULL)")


MAX_NUMBER_TEXT = 400  # a longer string is not read as a number (and payloads are not copied to find out)


def clamp(x: str) -> str:
    """`clamp_uint32(_int(x) or 0)` for a Nullable(Float64)."""
    return (f"if({x} IS NULL OR NOT isFinite(assumeNotNull({x})), toUInt32(0), toUInt32(greatest(0, "
            f"least(4294967295, trunc(assumeNotNull({x}))))))")


def transform(x: str, mapping: dict[str, str], default: str) -> str:
    return f"transform({x}, {strings(list(mapping))}, {strings(list(mapping.values()))}, {default})"


def tag_list(value: str, text: str, index: str) -> str:
    """`semconv.tags` of the attribute at `index` (1-based; 0 = none → []): `value` is its AnyValue, `text` its
    text."""
    json_list = f"arrayMap(r -> if(startsWith(r, '\"'), JSONExtractString(r), r), JSONExtractArrayRaw({text}))"
    split = (f"arrayFilter(t -> t != '', arrayMap(t -> trimBoth(t, ' \\t\\n\\r\\x0b\\x0c'), "
             f"splitByChar(',', {text})))")
    from_string = (f"if(startsWith({text}, '[') AND isValidJSON({text}) AND JSONType({text}) = 'Array', "
                   f"{json_list}, {split})")
    from_array = (f"arrayMap(e -> {leaf_text('e')}, arrayFilter(e -> NOT {_leaf_none('e')} AND "
                  f"NOT (e.string_value IS NOT NULL AND e.string_value = '') AND "
                  f"NOT (e.bytes_value IS NOT NULL AND e.bytes_value = ''), {value}.array_value.values))")
    return (f"if({index} = 0, []::Array(String), multiIf({value}.string_value IS NOT NULL OR "
            f"{value}.bytes_value IS NOT NULL, {from_string}, notEmpty({value}.array_value.values), {from_array}, "
            f"[{text}]))")
