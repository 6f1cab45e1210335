"""The commonest enhancements' field types as msgspec structs: a check in C of what `fields` checks.

Validating an enhancement field by field in Python (`enhancements`) was half of what a
line costs to parse: two hundred calls a line for a bibliographic and an abstract
enhancement. `msgspec.convert` checks the same types in about a microsecond. It is a
fast path only, never a second set of rules:

- a shape here is never looser than `fields`' checks: every field typed here is
  typed at least as strictly (a bool is not an int, a float is not an int, null only
  where the field is optional), and an enhancement it accepts still goes through the
  checks that a type cannot say (a blank source, a date, the stored JSON's limits);
- it may be stricter: whatever it refuses is validated by `fields`, which gives the
  answer and the message it always gave. It types `robot_version` even when
  `processor_version` is given, knows only the bibliographic and abstract content
  types, and refuses unknown keys anywhere, where `fields` ignores them inside
  `content` (and stores them). Real files have none (the DESTINY SDK writes none), and
  without them a shaped content nests three levels at most: far from `MAX_JSON_DEPTH`,
  so its depth need not be measured.
"""

from typing import Annotated, Any, Literal

import msgspec

from import_pipeline.domain.limits import MAX_INTEGER, MIN_INTEGER

_Int64 = Annotated[int, msgspec.Meta(ge=MIN_INTEGER, le=MAX_INTEGER)]
_Visibility = Literal["public", "restricted", "hidden"]


class _Author(msgspec.Struct, forbid_unknown_fields=True):
    display_name: str
    position: Literal["first", "middle", "last"]
    orcid: str | None = None


class _Pagination(msgspec.Struct, forbid_unknown_fields=True):
    volume: str | None = None
    issue: str | None = None
    first_page: str | None = None
    last_page: str | None = None


class _Venue(msgspec.Struct, forbid_unknown_fields=True):
    display_name: str | None = None
    issn_l: str | None = None
    host_organization_name: str | None = None
    venue_type: (
        Literal["journal", "repository", "conference", "ebook_platform", "book_series", "other"]
        | None
    ) = None
    issn: list[str] | None = None


class _Bibliographic(
    msgspec.Struct, forbid_unknown_fields=True, tag_field="enhancement_type", tag="bibliographic"
):
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


class _Abstract(
    msgspec.Struct, forbid_unknown_fields=True, tag_field="enhancement_type", tag="abstract"
):
    process: Literal["uninverted", "closed_api", "other"]
    abstract: str


class _Enhancement(msgspec.Struct, forbid_unknown_fields=True):
    source: str
    content: _Bibliographic | _Abstract
    visibility: _Visibility = "public"
    processor_version: str | None = None
    robot_version: str | None = None
    enhancement_type: Any = None
    id: Any = None


DATE_FIELDS = {"bibliographic": ("created_date", "updated_date", "publication_date")}
"""The fields of each shaped content type typed here as strings that must hold a date."""

NON_BLANK_FIELDS = {"abstract": ("abstract",)}
"""The fields of each shaped content type typed here as strings that must not be blank."""


def has_shape(raw: object) -> bool:
    """Whether `raw` is a bibliographic or abstract enhancement whose every field has its type."""
    try:
        msgspec.convert(raw, _Enhancement)
    except msgspec.ValidationError:
        return False
    return True
