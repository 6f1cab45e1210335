"""Per-line outcomes of spec section 3, and that every real and SDK sample line validates."""

import json
import uuid

import orjson
import pytest

from import_pipeline.domain.parsing import parse_line
from import_pipeline.domain.statuses import ImportResultStatus as S
from import_pipeline_tests.data_files import (
    REAL,
    REAL_SOURCES,
    SDK_EPPI_SAMPLES,
    SDK_SAMPLES,
    data_file,
    open_plain,
)

DOI = {"identifier_type": "doi", "identifier": "10.1000/abc"}
ABSTRACT = {
    "source": "test",
    "visibility": "public",
    "content": {"enhancement_type": "abstract", "process": "other", "abstract": "Text."},
}


def line(**data):
    return json.dumps(data)


def test_valid_line_is_completed():
    parsed = parse_line(3, line(identifiers=[DOI], enhancements=[ABSTRACT]))
    assert parsed.status == S.COMPLETED
    assert parsed.details is None
    assert [i.key for i in parsed.identifiers] == ["doi:10.1000/abc"]
    assert parsed.enhancements[0].enhancement_type == "abstract"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('"a string"', "expected a JSON object, got string"),
        (line(identifiers=[DOI], enhancemnts=[]), "unknown top-level fields ['enhancemnts']"),
        (line(enhancements=[]), "no identifiers"),
        (line(identifiers=[]), "no identifiers"),
        (line(identifiers=[DOI], visibility="secret"), "visibility: 'secret' is not one of"),
        (
            line(identifiers=[DOI], enhancements={"a": 1}),
            "enhancements: expected a list, got object",
        ),
    ],
)
def test_malformed_lines_fail_naming_the_line(text, reason):
    parsed = parse_line(17, text)
    assert parsed.status == S.FAILED
    assert parsed.details.startswith("Entry 17: ")
    assert reason in parsed.details
    assert parsed.identifiers == ()


def test_every_identifier_invalid_fails_listing_each_error():
    parsed = parse_line(
        5,
        line(
            identifiers=[
                {"identifier_type": "doi", "identifier": "nope"},
                {"identifier_type": "pm_id", "identifier": -1},
            ]
        ),
    )
    assert parsed.status == S.FAILED
    assert parsed.details.startswith("Entry 5: every identifier is invalid")
    assert "identifiers[0]: invalid doi 'nope'" in parsed.details
    assert "identifiers[1]: invalid pm_id -1" in parsed.details


def test_some_invalid_identifiers_and_enhancements_are_dropped():
    bad_abstract = {
        **ABSTRACT,
        "content": {"enhancement_type": "abstract", "process": "guess", "abstract": "x"},
    }
    tombstone = {**ABSTRACT, "content": {"enhancement_type": "tombstone"}}
    parsed = parse_line(
        9,
        line(
            identifiers=[DOI, {"identifier_type": "open_alex", "identifier": "X1"}],
            enhancements=[ABSTRACT, bad_abstract, tombstone],
        ),
    )
    assert parsed.status == S.PARTIALLY_FAILED
    assert [i.key for i in parsed.identifiers] == ["doi:10.1000/abc"]
    assert len(parsed.enhancements) == 1
    assert parsed.details.startswith("Entry 9: imported without ")
    assert "invalid open_alex 'X1'" in parsed.details
    assert (
        "enhancements[1]: abstract enhancement: content.process: 'guess' is not one of"
        in parsed.details
    )
    assert "enhancements[2]: a tombstone enhancement is not allowed" in parsed.details


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            {"enhancement_type": "abstract", "process": "other", "abstract": " "},
            "abstract: must not be empty",
        ),
        ({"enhancement_type": "annotation", "annotations": []}, "annotations: needs at least 1"),
        ({"enhancement_type": "location", "locations": []}, "locations: needs at least 1"),
        (
            {"enhancement_type": "location", "locations": [{"landing_page_url": "ftp://x"}]},
            "not an http(s) URL",
        ),
        (
            {"enhancement_type": "bibliographic", "publication_year": "1999"},
            "publication_year: expected an integer",
        ),
        (
            {
                "enhancement_type": "bibliographic",
                "authorship": [{"display_name": "A", "position": "2nd"}],
            },
            "position",
        ),
        (
            {
                "enhancement_type": "annotation",
                "annotations": [{"annotation_type": "boolean", "scheme": "s", "label": "l"}],
            },
            "value: expected true or false",
        ),
        ({"enhancement_type": "wiki"}, "enhancement_type: 'wiki' is not one of"),
        # Every field the SDK types, a list or an object where a choice is expected too.
        ({"enhancement_type": ["abstract"]}, "content.enhancement_type: expected one of"),
        ({"enhancement_type": {"a": 1}}, "content.enhancement_type: expected one of"),
        (
            {"enhancement_type": "abstract", "process": [], "abstract": "x"},
            "content.process: expected one of",
        ),
        (
            {"enhancement_type": "bibliographic", "publication_venue": {"issn": "1234-5678"}},
            "content.publication_venue.issn: expected a list, got string",
        ),
        (
            {"enhancement_type": "bibliographic", "publication_venue": {"issn": ["1234", 5]}},
            "content.publication_venue.issn[1]: expected a string, got integer",
        ),
        (
            {"enhancement_type": "bibliographic", "publication_venue": {"issn_l": 1}},
            "content.publication_venue.issn_l: expected a string",
        ),
        (
            {"enhancement_type": "bibliographic", "publication_venue": {"venue_type": "metadata"}},
            "content.publication_venue.venue_type: 'metadata' is not one of",
        ),
        (
            {"enhancement_type": "bibliographic", "authorship": [{"display_name": "A"}, "B"]},
            "content.authorship[0].position: expected one of",
        ),
        (
            {"enhancement_type": "bibliographic", "cited_by_count": 2**63},
            "content.cited_by_count: 9223372036854775808 is out of range",
        ),
        (
            {
                "enhancement_type": "annotation",
                "annotations": [
                    {"annotation_type": "score", "scheme": "a/b", "label": "l", "score": 1}
                ],
            },
            "content.annotations[0].scheme: 'a/b' does not match",
        ),
        (
            {"enhancement_type": "location", "locations": [{"version": ["publishedVersion"]}]},
            "content.locations[0].version: expected one of",
        ),
        (
            {"enhancement_type": "location", "locations": [{"landing_page_url": "http://["}]},
            "content.locations[0].landing_page_url: 'http://[' is not an http(s) URL",
        ),
        (
            {
                "enhancement_type": "reference_association",
                "associated_reference_ids": [str(uuid.uuid4())],
                "association_type": "likes",
            },
            "content.association_type: 'likes' is not one of",
        ),
        (
            {
                "enhancement_type": "reference_association",
                "associated_reference_ids": [DOI, {"identifier_type": "doi", "identifier": "x"}],
                "association_type": "cites",
            },
            "content.associated_reference_ids[1]: invalid doi 'x'",
        ),
        (
            {
                "enhancement_type": "reference_association",
                "associated_reference_ids": [str(uuid.uuid1())],
                "association_type": "cites",
            },
            "is not a UUID of version 4 or 7",
        ),
        (
            {"enhancement_type": "linked_data", "vocabulary_uri": "https://v.org", "data": {}},
            "content.data: must contain an '@context' key",
        ),
        (
            {"enhancement_type": "linked_data", "vocabulary_uri": 1, "data": {"@context": "x"}},
            "content.vocabulary_uri: expected an http(s) URL, got integer",
        ),
        ({"enhancement_type": "full_text"}, "content.file_url: expected an http(s) URL, got null"),
        (
            {"enhancement_type": "full_text", "file_url": "https://f.org/a.pdf", "byte_size": "1"},
            "content.byte_size: expected an integer, got string",
        ),
        (
            {
                "enhancement_type": "raw",
                "source_export_date": "2024-01-01",
                "description": "d",
                "data": {},
            },
            "content.data: must not be empty",
        ),
        (
            {"enhancement_type": "raw", "source_export_date": 2024, "description": "d", "data": 1},
            "content.source_export_date: expected an ISO 8601 date, got integer",
        ),
    ],
)
def test_enhancement_rules(content, message):
    parsed = parse_line(2, line(identifiers=[DOI], enhancements=[{**ABSTRACT, "content": content}]))
    assert parsed.status == S.PARTIALLY_FAILED
    assert message in parsed.details


@pytest.mark.parametrize(
    ("enhancement", "message"),
    [
        ({**ABSTRACT, "visibility": []}, "enhancements[0]: visibility: expected one of"),
        ({**ABSTRACT, "visibility": {"a": 1}}, "enhancements[0]: visibility: expected one of"),
        ({**ABSTRACT, "source": ["s"]}, "enhancements[0]: source: expected a string, got list"),
        ({**ABSTRACT, "processor_version": 2}, "enhancements[0]: processor_version: expected"),
        ({**ABSTRACT, "content": "abstract"}, "enhancements[0]: content: expected an object"),
        ([ABSTRACT], "enhancements[0]: enhancement must be an object, got list"),
        (
            {**ABSTRACT, "colour": 1, "size": 2},
            "enhancements[0]: unknown enhancement fields ['colour', 'size']",
        ),
    ],
)
def test_wrong_types_around_the_content_drop_the_enhancement(enhancement, message):
    parsed = parse_line(4, line(identifiers=[DOI], enhancements=[enhancement]))
    assert parsed.status == S.PARTIALLY_FAILED
    assert message in parsed.details


@pytest.mark.parametrize(
    "content",
    [
        {
            "enhancement_type": "reference_association",
            "associated_reference_ids": [DOI, str(uuid.uuid4())],
            "association_type": "is_similar_to",
        },
        {
            "enhancement_type": "linked_data",
            "vocabulary_uri": "https://vocab.evrepo.org/vocabulary/v1",
            "data": {"@context": "https://vocab.evrepo.org/context.jsonld", "x": [1]},
        },
        {
            "enhancement_type": "full_text",
            "file_url": "https://example.org/a.pdf",
            "byte_size": 1024,
            "version": "acceptedVersion",
            "retrieved_at": "2026-01-01T10:00:00Z",
        },
        {
            "enhancement_type": "raw",
            "source_export_date": "2024-01-01",
            "description": "",
            "data": 1,
        },
    ],
    ids=lambda content: content["enhancement_type"],
)
def test_content_the_sdk_accepts_is_kept(content):
    parsed = parse_line(2, line(identifiers=[DOI], enhancements=[{**ABSTRACT, "content": content}]))
    assert parsed.status == S.COMPLETED, parsed.details
    assert parsed.enhancements[0].content == content


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            {"enhancement_type": "abstract", "process": "other", "abstract": "a\x00b"},
            "abstract enhancement: content.abstract: holds a NUL character (\\u0000)",
        ),
        (
            {
                "enhancement_type": "raw",
                "source_export_date": "2024-01-01",
                "description": "d",
                "data": {"a": [{"b\x00": 1}]},
            },
            "raw enhancement: content.data.a[0]['b\\x00']: holds a NUL character",
        ),
        (
            {
                "enhancement_type": "raw",
                "source_export_date": "2024-01-01",
                "description": "d",
                "data": json.loads("[" * 65 + "]" * 65),
            },
            "raw enhancement: content.data: nests deeper than 64 levels",
        ),
    ],
)
def test_content_the_stores_cannot_hold_is_dropped(content, message):
    parsed = parse_line(8, line(identifiers=[DOI], enhancements=[{**ABSTRACT, "content": content}]))
    assert parsed.status == S.PARTIALLY_FAILED
    assert parsed.details.startswith("Entry 8: imported without invalid enhancement")
    assert message in parsed.details


def test_content_at_the_depth_limit_is_kept():
    data = json.loads("[" * 63 + "]" * 63)  # the content object is level 1
    content = {
        "enhancement_type": "raw",
        "source_export_date": "2024-01-01",
        "description": "d",
        "data": data,
    }
    parsed = parse_line(8, line(identifiers=[DOI], enhancements=[{**ABSTRACT, "content": content}]))
    assert parsed.status == S.COMPLETED, parsed.details


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"identifiers": [DOI], "visibility": []}, "visibility: expected one of"),
        ({"identifiers": [DOI], "visibility": None}, "visibility: expected one of"),
        ({"identifiers": "10.1000/x"}, "identifiers: expected a list, got string"),
        ({"identifiers": {"0": DOI}}, "identifiers: expected a list, got object"),
        ({"identifiers": None}, "no identifiers"),
        ({"identifiers": [DOI], "enhancements": 0}, "enhancements: expected a list, got integer"),
        ({"identifiers": [DOI], "enhancements": ""}, "enhancements: expected a list, got string"),
        ({"identifiers": [["doi", "10.1000/x"]]}, "identifiers[0]: identifier must be an object"),
        (
            {"identifiers": [DOI], **{f"k{n}": n for n in range(9)}},
            "unknown top-level fields ['k0', 'k1', 'k2', 'k3', 'k4'] and 4 more",
        ),
    ],
)
def test_wrong_types_at_the_top_level_fail_the_line(data, message):
    parsed = parse_line(6, json.dumps(data))
    assert parsed.status == S.FAILED
    assert parsed.details.startswith("Entry 6: ")
    assert message in parsed.details


def test_null_enhancements_mean_none():
    parsed = parse_line(6, line(identifiers=[DOI], enhancements=None))
    assert parsed.status == S.COMPLETED


def test_duplicate_identifiers_in_one_line_collapse():
    parsed = parse_line(
        1, line(identifiers=[DOI, {"identifier_type": "doi", "identifier": "doi:10.1000/ABC"}])
    )
    assert parsed.status == S.COMPLETED
    assert len(parsed.identifiers) == 1


@pytest.mark.parametrize(
    "name",
    [f"{REAL}/{stem}.jsonl.gz" for stem in REAL_SOURCES]
    + [f"{SDK_SAMPLES}/{sample}" for sample in SDK_EPPI_SAMPLES],
)
def test_every_sdk_validated_line_imports_completely(name):
    """The test data was validated with destiny-sdk 0.17.6: none of it may be rejected."""
    count = 0
    with open_plain(data_file(name)) as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            parsed = parse_line(number, text)
            assert parsed.status == S.COMPLETED, parsed.details
            assert len(parsed.enhancements) == len(orjson.loads(text).get("enhancements", []))
            count += 1
    assert count > 0
