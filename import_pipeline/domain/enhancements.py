"""Validation of DESTINY enhancements, following the SDK's field rules.

Each check returns nothing or raises `InvalidEnhancementError` with a message naming
the field. The rules mirror `destiny_sdk.enhancements` (0.17.x): required fields, enum
values, non-empty lists and scalar types. Unknown keys inside `content` are ignored,
as the SDK's pydantic models ignore them.
"""

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class InvalidEnhancementError(ValueError):
    """An enhancement that does not validate; the message says which field and why."""


VISIBILITIES = frozenset({"public", "restricted", "hidden"})
ENHANCEMENT_TYPES = frozenset(
    {
        "bibliographic",
        "abstract",
        "annotation",
        "location",
        "reference_association",
        "linked_data",
        "raw",
        "full_text",
    }
)
_ENHANCEMENT_KEYS = frozenset(
    {
        "source",
        "visibility",
        "processor_version",
        "robot_version",
        "enhancement_type",
        "content",
        "id",
    }
)


@dataclass(frozen=True, slots=True)
class Enhancement:
    """A validated enhancement, ready to store."""

    source: str
    visibility: str
    processor_version: str | None
    enhancement_type: str
    content: dict[str, Any]


def _fail(path: str, message: str) -> InvalidEnhancementError:
    return InvalidEnhancementError(f"{path}: {message}")


def _string(value: object, path: str, *, optional: bool = False, non_empty: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise _fail(path, f"expected a string, got {type(value).__name__}")
    if non_empty and not value.strip():
        raise _fail(path, "must not be empty")


def _integer(value: object, path: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise _fail(path, f"expected an integer, got {type(value).__name__}")


def _number(value: object, path: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, f"expected a number, got {type(value).__name__}")


def _boolean(value: object, path: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, bool):
        raise _fail(path, f"expected true or false, got {type(value).__name__}")


def _date(value: object, path: str) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise _fail(path, f"expected an ISO 8601 date, got {type(value).__name__}")
    try:
        datetime.date.fromisoformat(value[:10])
    except ValueError:
        raise _fail(path, f"invalid date {value!r}") from None


def _enum(value: object, allowed: frozenset[str], path: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if value not in allowed:
        raise _fail(path, f"{value!r} is not one of {sorted(allowed)}")


def _object(value: object, path: str, *, optional: bool = False) -> dict[str, Any]:
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise _fail(path, f"expected an object, got {type(value).__name__}")
    return value


def _items(value: object, path: str, *, min_length: int = 0, optional: bool = False) -> list[Any]:
    if value is None and optional:
        return []
    if not isinstance(value, list):
        raise _fail(path, f"expected a list, got {type(value).__name__}")
    if len(value) < min_length:
        raise _fail(path, f"needs at least {min_length} item(s)")
    return value


def _http_url(value: object, path: str) -> None:
    if value is None:
        return
    _string(value, path)
    parts = urlsplit(str(value))
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise _fail(path, f"{value!r} is not an http(s) URL")


_POSITIONS = frozenset({"first", "middle", "last"})
_VENUE_TYPES = frozenset(
    {"journal", "repository", "conference", "ebook_platform", "book_series", "metadata", "other"}
)


def _bibliographic(content: dict[str, Any]) -> None:
    for index, raw_author in enumerate(
        _items(content.get("authorship"), "authorship", optional=True)
    ):
        author_path = f"authorship[{index}]"
        author = _object(raw_author, author_path)
        _string(author.get("display_name"), f"{author_path}.display_name")
        _string(author.get("orcid"), f"{author_path}.orcid", optional=True)
        _enum(author.get("position"), _POSITIONS, f"{author_path}.position")
    for field in ("cited_by_count", "publication_year"):
        _integer(content.get(field), field)
    for field in ("created_date", "updated_date", "publication_date"):
        _date(content.get(field), field)
    for field in ("publisher", "title"):
        _string(content.get(field), field, optional=True)
    pagination = _object(content.get("pagination"), "pagination", optional=True)
    for field in ("volume", "issue", "first_page", "last_page"):
        _string(pagination.get(field), f"pagination.{field}", optional=True)
    venue = _object(content.get("publication_venue"), "publication_venue", optional=True)
    _string(venue.get("display_name"), "publication_venue.display_name", optional=True)
    _enum(venue.get("venue_type"), _VENUE_TYPES, "publication_venue.venue_type", optional=True)


def _abstract(content: dict[str, Any]) -> None:
    _enum(content.get("process"), frozenset({"uninverted", "closed_api", "other"}), "process")
    _string(content.get("abstract"), "abstract", non_empty=True)


def _annotation(content: dict[str, Any]) -> None:
    annotations = _items(content.get("annotations"), "annotations", min_length=1)
    for index, raw_annotation in enumerate(annotations):
        path = f"annotations[{index}]"
        annotation = _object(raw_annotation, path)
        kind = annotation.get("annotation_type")
        _enum(kind, frozenset({"boolean", "score"}), f"{path}.annotation_type")
        _string(annotation.get("scheme"), f"{path}.scheme", non_empty=True)
        _string(annotation.get("label"), f"{path}.label", non_empty=True)
        if kind == "boolean":
            _boolean(annotation.get("value"), f"{path}.value")
            _number(annotation.get("score"), f"{path}.score", optional=True)
        else:
            _number(annotation.get("score"), f"{path}.score")
        _object(annotation.get("data"), f"{path}.data", optional=True)


_DRIVER_VERSIONS = frozenset({"publishedVersion", "acceptedVersion", "submittedVersion", "other"})


def _location(content: dict[str, Any]) -> None:
    for index, raw_location in enumerate(
        _items(content.get("locations"), "locations", min_length=1)
    ):
        path = f"locations[{index}]"
        location = _object(raw_location, path)
        _boolean(location.get("is_oa"), f"{path}.is_oa", optional=True)
        _enum(location.get("version"), _DRIVER_VERSIONS, f"{path}.version", optional=True)
        _http_url(location.get("landing_page_url"), f"{path}.landing_page_url")
        _http_url(location.get("pdf_url"), f"{path}.pdf_url")
        _string(location.get("license"), f"{path}.license", optional=True)
        _object(location.get("extra"), f"{path}.extra", optional=True)


def _reference_association(content: dict[str, Any]) -> None:
    _items(content.get("associated_reference_ids"), "associated_reference_ids", min_length=1)
    _string(content.get("association_type"), "association_type", non_empty=True)


def _raw(content: dict[str, Any]) -> None:
    _string(content.get("source_export_date"), "source_export_date")
    _date(content.get("source_export_date"), "source_export_date")
    _string(content.get("description"), "description")
    _object(content.get("metadata"), "metadata", optional=True)
    if "data" not in content:
        raise _fail("data", "is required")


def _no_rules(content: dict[str, Any]) -> None:
    """Types whose content the SDK leaves open (linked_data, full_text)."""


_CONTENT_RULES: Mapping[str, Callable[[dict[str, Any]], None]] = {
    "bibliographic": _bibliographic,
    "abstract": _abstract,
    "annotation": _annotation,
    "location": _location,
    "reference_association": _reference_association,
    "linked_data": _no_rules,
    "raw": _raw,
    "full_text": _no_rules,
}


def validate_enhancement(raw: object) -> Enhancement:
    """Validate one `EnhancementFileInput` object; raise `InvalidEnhancementError` if bad."""
    if not isinstance(raw, dict):
        raise InvalidEnhancementError(f"enhancement must be an object, got {type(raw).__name__}")
    unknown = raw.keys() - _ENHANCEMENT_KEYS
    if unknown:
        raise InvalidEnhancementError(f"unknown enhancement fields {sorted(unknown)}")
    _string(raw.get("source"), "source", non_empty=True)
    visibility = raw.get("visibility", "public")
    _enum(visibility, VISIBILITIES, "visibility")
    version = raw.get("processor_version", raw.get("robot_version"))
    _string(version, "processor_version", optional=True)
    content = _object(raw.get("content"), "content")
    kind = content.get("enhancement_type")
    if kind == "tombstone":
        raise InvalidEnhancementError("a tombstone enhancement is not allowed in an import file")
    _enum(kind, ENHANCEMENT_TYPES, "content.enhancement_type")
    try:
        _CONTENT_RULES[str(kind)](content)
    except InvalidEnhancementError as error:
        raise InvalidEnhancementError(f"{kind} enhancement: content.{error}") from None
    return Enhancement(
        source=str(raw["source"]),
        visibility=str(visibility),
        processor_version=version,
        enhancement_type=str(kind),
        content=content,
    )
