"""Canonical and invalid forms of every identifier type (file-format.md)."""

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
    ],
)
def test_invalid_identifiers(raw, message):
    with pytest.raises(InvalidIdentifierError, match=message):
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
