"""Canonical and invalid forms of every identifier type (file-format.md)."""

import re

import pytest

from import_pipeline.domain.identifiers import (
    CanonicalIdentifier,
    InvalidIdentifierError,
    canonicalise_identifier,
)


def ident(kind, value, **extra):
    return {"identifier_type": kind, "identifier": value, **extra}


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        (ident("doi", "10.1000/ABC.def"), "10.1000/abc.def"),
        (ident("doi", "https://doi.org/10.1000/X"), "10.1000/x"),
        (ident("doi", "http://dx.doi.org/10.1000/X"), "10.1000/x"),
        (ident("doi", "HTTPS://DOI.ORG/10.1000/X"), "10.1000/x"),
        (ident("doi", "doi:10.1000/x"), "10.1000/x"),
        (ident("doi", "DOI:10.1000/x"), "10.1000/x"),
        (ident("doi", "10.1000/a\u2010b"), "10.1000/a-b"),
        (ident("doi", " 10.123456789/x "), "10.123456789/x"),
        (ident("pm_id", 123), "123"),
        (ident("pm_id", "00123"), "123"),
        (ident("open_alex", "W123"), "W123"),
        (ident("open_alex", "https://openalex.org/W123"), "W123"),
        (ident("open_alex", "https://explore.openalex.org/works/W123"), "W123"),
        (ident("open_alex", "openalex.org/works/W9"), "W9"),
        (ident("eric", "ED123"), "ED123"),
        (ident("eric", "https://eric.ed.gov/?id=EJ456"), "EJ456"),
        (ident("eric", "https://files.eric.ed.gov/fulltext/ED789.pdf"), "ED789"),
        (ident("pro_quest", "12345"), "12345"),
        (ident("pro_quest", "https://www.proquest.com/docview/12345"), "12345"),
        (ident("pro_quest", "https://search.proquest.com/docview/678"), "678"),
        (ident("url", "HTTPS://Example.ORG:443/a?b=1"), "https://example.org/a?b=1"),
        (ident("url", "http://example.org"), "http://example.org/"),
        (ident("url", "http://example.org:8080/x"), "http://example.org:8080/x"),
        (ident("other", "abc", other_identifier_name="isbn"), "abc"),
    ],
)
def test_canonical_forms(raw, canonical):
    assert canonicalise_identifier(raw).identifier == canonical


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (ident("doi", "11.1000/x"), "invalid doi"),
        (ident("doi", "10.12/x"), "invalid doi"),
        (ident("doi", "10.1000/has space"), "invalid doi"),
        (ident("doi", 1234), "must be a string"),
        (ident("pm_id", 0), "positive integer"),
        (ident("pm_id", -5), "positive integer"),
        (ident("pm_id", "12a"), "positive integer"),
        (ident("pm_id", True), "positive integer"),
        (ident("open_alex", "X123"), "invalid open_alex"),
        (ident("open_alex", "W123x"), "invalid open_alex"),
        (ident("eric", "EX123"), "invalid eric"),
        (ident("eric", "xED123"), "invalid eric"),
        (ident("pro_quest", "12a"), "invalid pro_quest"),
        (ident("url", "ftp://example.org/x"), "absolute http"),
        (ident("url", "/relative"), "absolute http"),
        (ident("other", "abc"), "other_identifier_name"),
        (ident("isbn", "123"), "unknown identifier_type"),
        ({"identifier_type": "doi"}, "no 'identifier'"),
        (ident("doi", "10.1000/x", colour="red"), "unknown fields"),
        ("10.1000/x", "must be an object"),
        (ident("doi", ""), "empty"),
        # Wrong types of the discriminator and the name: a list used to raise TypeError.
        (ident(["doi"], "10.1000/x"), "identifier_type: expected one of ["),
        (ident({"t": "doi"}, "10.1000/x"), "got object"),
        (ident(None, "10.1000/x"), "got null"),
        (ident(7, "10.1000/x"), "got integer"),
        (
            ident("other", "abc", other_identifier_name=7),
            "other_identifier_name: expected a string",
        ),
        (ident("other", "abc", other_identifier_name=["n"]), "got list"),
        (ident("pm_id", [1]), "invalid pm_id list of 1 item(s)"),
        (ident("pm_id", 1.5), "invalid pm_id 1.5"),
        # Values the stores cannot hold.
        (ident("doi", "10.1000/a\x00b"), "doi identifier '10.1000/a\\x00b' holds a NUL"),
        (ident("other", "abc", other_identifier_name="n\x00"), "holds a NUL character"),
        (ident("url", "https://e.org/\x00"), "holds a NUL character"),
        (ident("pm_id", 2**63), "invalid pm_id 9223372036854775808: out of range"),
        (ident("pm_id", "9223372036854775808"), "out of range (at most 9,223,372,036,854,775,807)"),
        (ident("pm_id", "9" * 5_000), "invalid pm_id '9999999999999999999999999999999999999999'…"),
        (ident("pm_id", 1e30), "invalid pm_id 1e+30"),
        (ident("doi", "10.1000/" + "x" * 993), "too long: 1,005 bytes as stored (at most 1,000)"),
        (ident("other", "x" * 990, other_identifier_name="isbn"), "too long: 1,007 bytes"),
    ],
)
def test_invalid_identifiers(raw, message):
    with pytest.raises(InvalidIdentifierError, match=re.escape(message)):
        canonicalise_identifier(raw)


def test_keys_are_type_qualified_and_unambiguous():
    doi = CanonicalIdentifier.of("doi", "10.1/x")
    assert doi.key == "doi:10.1/x"
    a = CanonicalIdentifier.of("other", "c", "a:b")
    b = CanonicalIdentifier.of("other", "b:c", "a")
    assert a.key != b.key
    assert CanonicalIdentifier.of("pm_id", "5").as_json() == {
        "identifier_type": "pm_id",
        "identifier": 5,
    }


@pytest.mark.parametrize(
    "raw",
    [
        ident("pm_id", 2**63 - 1),
        ident("pm_id", "0009223372036854775807"),
        ident("doi", "10.1000/" + "x" * 988),  # 'doi:' and 996 characters: 1,000 bytes
        ident("doi", "https://doi.org/10.1000/" + "x" * 988),  # the prefix is not stored
    ],
)
def test_identifiers_at_the_limits_are_accepted(raw):
    canonicalise_identifier(raw)


def test_a_long_identifier_is_quoted_as_an_excerpt():
    with pytest.raises(InvalidIdentifierError) as raised:
        canonicalise_identifier(ident("doi", "10.1000/" + "y" * 4_000))
    assert str(raised.value) == (
        "doi identifier '10.1000/yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy'… (4,008 characters) "
        "is too long: 4,012 bytes as stored (at most 1,000)"
    )
