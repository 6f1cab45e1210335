"""Per-line outcomes of spec section 3, and that every real and SDK sample line validates."""

import json

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
        (line(identifiers=[DOI], enhancements={"a": 1}), "enhancements: expected a list, got object"),
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
    ],
)
def test_enhancement_rules(content, message):
    parsed = parse_line(2, line(identifiers=[DOI], enhancements=[{**ABSTRACT, "content": content}]))
    assert parsed.status == S.PARTIALLY_FAILED
    assert message in parsed.details


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
