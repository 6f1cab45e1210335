"""The commonest enhancements' field types as msgspec structs: a check in C of what `fields` checks.

Validating an enhancement field by field in Python (`enhancements`) was half of what a
line costs to parse: two hundred calls a line for a bibliographic and an abstract
enhancement. `msgspec.convert` checks the same types in about a microsecond. `fits` is
a fast "yes" only, never a second set of rules:

- a shape here is never looser than `fields`' checks: every field typed here is
  typed at least as strictly (a bool is not an int, a float is not an int, null only
  where the field is optional), and what a type cannot say (a blank string, a date, a
  scheme's pattern, the depth of open-ended data) is checked after it, as `fields`
  checks it;
- it may be stricter: whatever it refuses is validated by `fields`, which gives the
  answer and the message it always gave. It types `robot_version` even when
  `processor_version` is given, knows only the bibliographic, abstract and annotation
  content types, and refuses unknown keys anywhere, where `fields` ignores them inside
  `content` (and stores them). Real files have none (the DESTINY SDK writes none).
"""

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec

from import_pipeline.domain import fields
from import_pipeline.domain.limits import MAX_INTEGER, MAX_JSON_DEPTH, MIN_INTEGER, deeper_than

ANNOTATION_SCHEME = re.compile(r"[^/]+")
"""What an annotation's scheme must match, whole: no slash."""

_Int64 = Annotated[int, msgspec.Meta(ge=MIN_INTEGER, le=MAX_INTEGER)]
_Number = int | float


class _Shape(msgspec.Struct, forbid_unknown_fields=True):
    """An object of an enhancement whose keys are all known."""


class _Author(_Shape):
    display_name: str
    position: Literal["first", "middle", "last"]
    orcid: str | None = None


class _Pagination(_Shape):
    volume: str | None = None
    issue: str | None = None
    first_page: str | None = None
    last_page: str | None = None


class _Venue(_Shape):
    display_name: str | None = None
    issn_l: str | None = None
    host_organization_name: str | None = None
    venue_type: (
        Literal["journal", "repository", "conference", "ebook_platform", "book_series", "other"]
        | None
    ) = None
    issn: list[str] | None = None


class _Bibliographic(_Shape, tag_field="enhancement_type", tag="bibliographic"):
    authorship: list[_Author] | None = None
    cited_by_count: _Int64 | None = None
    publication_year: _Int64 | None = None
    created_date: str | None = None
    updated_date: str | None = None
    publication_date: str | None = None
    publisher: str | None = None
    title: str | None = None
    pagination: _Pagination | None = None
    publication_venue: _Venue | None = None


class _Abstract(_Shape, tag_field="enhancement_type", tag="abstract"):
    process: Literal["uninverted", "closed_api", "other"]
    abstract: str


class _BooleanAnnotation(_Shape, tag_field="annotation_type", tag="boolean"):
    scheme: str
    label: str
    value: bool
    score: _Number | None = None
    data: dict[str, Any] | None = None


class _ScoreAnnotation(_Shape, tag_field="annotation_type", tag="score"):
    scheme: str
    label: str
    score: _Number
    data: dict[str, Any] | None = None


class _Annotations(_Shape, tag_field="enhancement_type", tag="annotation"):
    annotations: Annotated[list[_BooleanAnnotation | _ScoreAnnotation], msgspec.Meta(min_length=1)]


_Content = _Bibliographic | _Abstract | _Annotations


class _Enhancement(_Shape):
    source: str
    content: _Content
    visibility: Literal["public", "restricted", "hidden"] = "public"
    processor_version: str | None = None
    robot_version: str | None = None
    enhancement_type: Any = None
    id: Any = None


def _dated(content: _Bibliographic) -> bool:
    try:
        fields.date(content.created_date, "created_date")
        fields.date(content.updated_date, "updated_date")
        fields.date(content.publication_date, "publication_date")
    except fields.FieldError:
        return False
    return True


def _not_blank(content: _Abstract) -> bool:
    return bool(content.abstract.strip())


def _annotated(content: _Annotations) -> bool:
    # content -> annotations -> annotation -> data: the data may nest MAX_JSON_DEPTH - 3
    return all(
        item.scheme.strip()
        and ANNOTATION_SCHEME.fullmatch(item.scheme)
        and item.label.strip()
        and not deeper_than(item.data, MAX_JSON_DEPTH - 3)
        for item in content.annotations
    )


_THE_REST: dict[type, Callable[[Any], bool]] = {
    _Bibliographic: _dated,
    _Abstract: _not_blank,
    _Annotations: _annotated,
}
"""Per content shape, what its types cannot say; every other field of it nests at most
three levels, far from `MAX_JSON_DEPTH`, so only open-ended data is measured."""


def fits(raw: object) -> bool:
    """Whether `raw` is an enhancement that `fields` would accept (False: not known here).

    NUL characters are not looked for: call it only for a line without the escape
    (`limits.may_hold_nul`).
    """
    try:
        shaped = msgspec.convert(raw, _Enhancement)
    except msgspec.ValidationError:
        return False
    return bool(shaped.source.strip()) and _THE_REST[type(shaped.content)](shaped.content)
