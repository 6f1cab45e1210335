"""The field checks, the storage limits and the excerpt helper, on their own.

Every check must answer any JSON value with a pass or a `FieldError` naming the field,
never another exception (a list where a choice was expected used to raise `TypeError`
inside a batch); details must quote values as short excerpts (a 50 MB DOI never
whole); the limits must hold exactly at their documented boundaries.
"""

import re
import uuid

import pytest

from import_pipeline.domain import fields
from import_pipeline.domain.excerpts import EXCERPT_CHARACTERS, cut, excerpt, excerpt_names
from import_pipeline.domain.fields import FieldError
from import_pipeline.domain.identifiers import InvalidIdentifierError, canonicalise_identifier
from import_pipeline.domain.limits import (
    MAX_IDENTIFIER_BYTES,
    MAX_JSON_DEPTH,
    deeper_than,
    identifier_key_too_long,
    may_hold_nul,
    nul_location,
)

# One value of every JSON kind, and a few awkward ones.
JSON_VALUES = [
    None,
    True,
    0,
    -1,
    2**64 - 1,
    1.5,
    1e30,
    "",
    "text",
    "http://[",
    "a\x00b",
    [],
    ["x"],
    {},
    {"a": [1]},
]

CHECKS = {
    "string": lambda v: fields.string(v, "f", non_empty=True, pattern=re.compile("[a-z]+")),
    "integer": lambda v: fields.integer(v, "f"),
    "number": lambda v: fields.number(v, "f"),
    "boolean": lambda v: fields.boolean(v, "f"),
    "choice": lambda v: fields.choice(v, frozenset({"text"}), "f"),
    "date": lambda v: fields.date(v, "f"),
    "json_object": lambda v: fields.json_object(v, "f"),
    "json_list": lambda v: fields.json_list(v, "f", min_length=1),
    "strings": lambda v: fields.strings(v, "f"),
    "http_url": lambda v: fields.http_url(v, "f"),
    "repository_id": lambda v: fields.repository_id(v, "f"),
    "storable_json": lambda v: fields.storable_json(v, "f", may_hold_nul=True),
}


@pytest.mark.parametrize("value", JSON_VALUES, ids=repr)
@pytest.mark.parametrize("check", CHECKS.values(), ids=CHECKS.keys())
def test_a_check_passes_or_names_the_field_whatever_the_value(check, value):
    try:
        check(value)
    except FieldError as error:
        assert str(error).startswith("f")
        assert "\x00" not in str(error)


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (CHECKS["choice"], [], "f: expected one of ['text'], got list"),
        (CHECKS["choice"], {"a": 1}, "f: expected one of ['text'], got object"),
        (CHECKS["choice"], "other", "f: 'other' is not one of ['text']"),
        (CHECKS["string"], 7, "f: expected a string, got integer"),
        (CHECKS["string"], " ", "f: must not be empty"),
        (CHECKS["string"], "A1", "f: 'A1' does not match [a-z]+"),
        (CHECKS["integer"], "1999", "f: expected an integer, got string"),
        (CHECKS["integer"], True, "f: expected an integer, got boolean"),
        (CHECKS["integer"], 2.5, "f: expected an integer, got number"),
        (CHECKS["integer"], 2**63, "f: 9223372036854775808 is out of range (signed 64 bits)"),
        (CHECKS["integer"], 1e30, "f: 1e+30 is out of range (signed 64 bits)"),
        (CHECKS["number"], "0.5", "f: expected a number, got string"),
        (CHECKS["boolean"], "yes", "f: expected true or false, got string"),
        (CHECKS["date"], "2024-13-01", "f: invalid date '2024-13-01'"),
        (CHECKS["json_list"], [], "f: needs at least 1 item(s)"),
        (CHECKS["strings"], ["a", 3], "f[1]: expected a string, got integer"),
        (CHECKS["http_url"], "http://[", "f: 'http://[' is not an http(s) URL"),
        (CHECKS["http_url"], "ftp://example.org", "is not an http(s) URL"),
        (CHECKS["http_url"], "https://e.org/" + "a" * 2_070, "is longer than 2,083 characters"),
        (CHECKS["repository_id"], str(uuid.uuid1()), "is not a UUID of version 4 or 7"),
        (CHECKS["repository_id"], "nope", "f: 'nope' is not a UUID"),
    ],
)
def test_check_messages(check, value, message):
    with pytest.raises(FieldError) as raised:
        check(value)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (CHECKS["integer"], -(2**63)),
        (CHECKS["integer"], 2**63 - 1),
        (CHECKS["integer"], None),
        (CHECKS["date"], "2024-02-29T10:00:00Z"),
        (CHECKS["http_url"], "https://example.org/a?b=1"),
        (CHECKS["repository_id"], str(uuid.uuid4())),
        (CHECKS["storable_json"], {"a": [{"b": "c"}]}),
    ],
)
def test_checks_accept_good_values(check, value):
    check(value)


def test_paths_are_built_on_the_way_out_of_lists_and_objects():
    def author(value):
        fields.string(fields.json_object(value, "").get("name"), "name")

    with pytest.raises(FieldError) as raised:
        fields.within(
            {"authors": [{"name": "a"}, {"name": 1}]},
            "content",
            lambda c: fields.each(c["authors"], "authors", author),
        )
    assert str(raised.value) == "content.authors[1].name: expected a string, got integer"
    assert FieldError("[2]", "r").under("a").path == "a[2]"
    assert FieldError("", "r").under("a").path == "a"
    assert FieldError("x", "r").under("").path == "x"
    assert fields.at("data", "@context") == "data['@context']"


def nested(depth, container="dict"):
    value = "leaf"
    for _ in range(depth):
        value = {"k": value} if container == "dict" else [value]
    return value


@pytest.mark.parametrize("container", ["dict", "list"])
def test_nesting_limit_is_exact(container):
    assert not deeper_than(nested(MAX_JSON_DEPTH, container), MAX_JSON_DEPTH)
    assert deeper_than(nested(MAX_JSON_DEPTH + 1, container), MAX_JSON_DEPTH)
    assert not deeper_than("a string", 0)
    assert deeper_than([[]], 1)


def test_too_deep_content_names_the_field_that_goes_too_deep():
    with pytest.raises(FieldError) as raised:
        fields.storable_json(
            {"fine": 1, "deep": nested(MAX_JSON_DEPTH)}, "content", may_hold_nul=False
        )
    assert str(raised.value) == "content.deep: nests deeper than 64 levels of objects and lists"
    fields.storable_json({"deep": nested(MAX_JSON_DEPTH - 1)}, "content", may_hold_nul=False)


@pytest.mark.parametrize(
    ("value", "location"),
    [
        ("a\x00", ()),
        ({"a": [1, {"b\x00": 2}]}, ("a", 1, "b\x00")),
        ({"a": ["x", "y\x00"]}, ("a", 1)),
        ({"a": ["x"], "b": 1}, None),
    ],
)
def test_nul_is_found_in_keys_and_strings(value, location):
    assert nul_location(value) == location


def test_nul_in_content_is_reported_with_its_path():
    with pytest.raises(FieldError) as raised:
        fields.storable_json({"a": [{"b": "x\x00"}]}, "content", may_hold_nul=True)
    assert str(raised.value).startswith("content.a[0].b: holds a NUL character")
    # The line had no \u0000 escape, so there can be none and nobody looks.
    fields.storable_json({"a": "x\x00"}, "content", may_hold_nul=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'{"a": "x\\u0000"}', True),
        ('{"a": "x\\u0000"}', True),
        (b'{"a": "x\\u0001"}', False),
        (b'{"a": "x"}', False),
    ],
)
def test_the_nul_pre_check_reads_the_raw_line(text, expected):
    assert may_hold_nul(text) is expected


@pytest.mark.parametrize(
    ("key", "too_long"),
    [
        ("a" * MAX_IDENTIFIER_BYTES, None),
        ("a" * (MAX_IDENTIFIER_BYTES + 1), MAX_IDENTIFIER_BYTES + 1),
        ("\u00e9" * 500, None),  # 2 bytes each: 1,000
        ("\u20ac" * 334, 1_002),  # 3 bytes each
        ("\U0001f600" * 250, None),  # 4 bytes each: 1,000
    ],
)
def test_identifier_key_limit_counts_bytes(key, too_long):
    assert identifier_key_too_long(key) == too_long


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("10.1000/abc", "'10.1000/abc'"),
        ("x" * EXCERPT_CHARACTERS, repr("x" * EXCERPT_CHARACTERS)),
        ("x" * (EXCERPT_CHARACTERS + 1), repr("x" * EXCERPT_CHARACTERS) + "… (41 characters)"),
        ("a\x00b", "'a\\x00b'"),
        (12, "12"),
        (2**200, "an integer of 201 bits"),
        (True, "True"),
        (None, "None"),
        (1.5, "1.5"),
        ([1, 2], "list of 2 item(s)"),
        ({"a": 1}, "object of 1 item(s)"),
    ],
)
def test_excerpt(value, shown):
    assert excerpt(value) == shown


def test_a_50_mb_value_is_quoted_as_an_excerpt():
    huge = "10.1000/" + "x" * (50 * 2**20)
    assert excerpt(huge) == repr(huge[:EXCERPT_CHARACTERS]) + "… (52,428,808 characters)"
    with pytest.raises(InvalidIdentifierError) as raised:
        canonicalise_identifier({"identifier_type": "doi", "identifier": huge})
    assert len(str(raised.value)) < 200
    assert "… (52,428,808 characters) is too long" in str(raised.value)


def test_excerpt_names_lists_a_few():
    assert excerpt_names(["b", "a"]) == "['a', 'b']"
    listed = excerpt_names([f"k{n}" for n in range(7)] + ["z" * 100])
    assert listed == "['k0', 'k1', 'k2', 'k3', 'k4'] and 3 more"


def test_cut_keeps_short_text_and_cuts_long_text():
    assert cut("short") == "short"
    assert cut("y" * 500, 10) == "yyyyyyyyyy… (500 characters)"
