"""Validation of DESTINY enhancements, following the SDK's field rules.

The rules mirror `destiny_sdk.enhancements` (0.17.x): required fields, enum values,
non-empty lists and the type of every field the SDK types, for each content type; the
checks themselves are in `fields`. Unknown keys inside `content` are ignored, as the
SDK's pydantic models ignore them (and stored with the rest). On top of the SDK, the
content must be storable (`limits`): no NUL character and at most `MAX_JSON_DEPTH`
levels deep. Any failure raises `InvalidEnhancementError` naming the field.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from import_pipeline.domain import enhancement_shapes, fields
from import_pipeline.domain.enhancement_shapes import ANNOTATION_SCHEME
from import_pipeline.domain.errors import InvalidDataError
from import_pipeline.domain.excerpts import type_name
from import_pipeline.domain.fields import FieldError
from import_pipeline.domain.identifiers import InvalidIdentifierError, canonicalise_identifier


class InvalidEnhancementError(InvalidDataError):
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


_POSITIONS = frozenset({"first", "middle", "last"})
_VENUE_TYPES = frozenset(
    {"journal", "repository", "conference", "ebook_platform", "book_series", "other"}
)
_ABSTRACT_PROCESSES = frozenset({"uninverted", "closed_api", "other"})
_ANNOTATION_TYPES = frozenset({"boolean", "score"})
_DRIVER_VERSIONS = frozenset({"publishedVersion", "acceptedVersion", "submittedVersion", "other"})
_ASSOCIATION_TYPES = frozenset({"cites", "is_cited_by", "is_similar_to"})


def _author(author: object) -> None:
    author = fields.json_object(author, "")
    fields.string(author.get("display_name"), "display_name")
    fields.string(author.get("orcid"), "orcid", optional=True)
    fields.choice(author.get("position"), _POSITIONS, "position")


def _pagination(pagination: object) -> None:
    pagination = fields.json_object(pagination, "", optional=True)
    for name in ("volume", "issue", "first_page", "last_page"):
        fields.string(pagination.get(name), name, optional=True)


def _venue(venue: object) -> None:
    venue = fields.json_object(venue, "", optional=True)
    for name in ("display_name", "issn_l", "host_organization_name"):
        fields.string(venue.get(name), name, optional=True)
    fields.choice(venue.get("venue_type"), _VENUE_TYPES, "venue_type", optional=True)
    fields.strings(venue.get("issn"), "issn")


def _bibliographic(content: dict[str, Any]) -> None:
    authorship = fields.json_list(content.get("authorship"), "authorship", optional=True)
    fields.each(authorship, "authorship", _author)
    for name in ("cited_by_count", "publication_year"):
        fields.integer(content.get(name), name)
    for name in ("created_date", "updated_date", "publication_date"):
        fields.date(content.get(name), name)
    for name in ("publisher", "title"):
        fields.string(content.get(name), name, optional=True)
    fields.within(content.get("pagination"), "pagination", _pagination)
    fields.within(content.get("publication_venue"), "publication_venue", _venue)


def _abstract(content: dict[str, Any]) -> None:
    fields.choice(content.get("process"), _ABSTRACT_PROCESSES, "process")
    fields.string(content.get("abstract"), "abstract", non_empty=True)


def _annotation_item(annotation: object) -> None:
    annotation = fields.json_object(annotation, "")
    kind = annotation.get("annotation_type")
    fields.choice(kind, _ANNOTATION_TYPES, "annotation_type")
    fields.string(annotation.get("scheme"), "scheme", non_empty=True, pattern=ANNOTATION_SCHEME)
    fields.string(annotation.get("label"), "label", non_empty=True)
    if kind == "boolean":
        fields.boolean(annotation.get("value"), "value")
        fields.number(annotation.get("score"), "score", optional=True)
    else:
        fields.number(annotation.get("score"), "score")
    fields.json_object(annotation.get("data"), "data", optional=True)


def _annotation(content: dict[str, Any]) -> None:
    annotations = fields.json_list(content.get("annotations"), "annotations", min_length=1)
    fields.each(annotations, "annotations", _annotation_item)


def _location_item(location: object) -> None:
    location = fields.json_object(location, "")
    fields.boolean(location.get("is_oa"), "is_oa", optional=True)
    fields.choice(location.get("version"), _DRIVER_VERSIONS, "version", optional=True)
    fields.http_url(location.get("landing_page_url"), "landing_page_url")
    fields.http_url(location.get("pdf_url"), "pdf_url")
    fields.string(location.get("license"), "license", optional=True)
    fields.json_object(location.get("extra"), "extra", optional=True)


def _location(content: dict[str, Any]) -> None:
    locations = fields.json_list(content.get("locations"), "locations", min_length=1)
    fields.each(locations, "locations", _location_item)


def _associated_reference(value: object) -> None:
    """An associated reference: an external identifier object or a repository UUID."""
    if not isinstance(value, dict):
        fields.repository_id(value, "")
        return
    try:
        canonicalise_identifier(value)
    except InvalidIdentifierError as error:
        raise FieldError("", str(error)) from None


def _reference_association(content: dict[str, Any]) -> None:
    associated = fields.json_list(
        content.get("associated_reference_ids"), "associated_reference_ids", min_length=1
    )
    fields.each(associated, "associated_reference_ids", _associated_reference)
    fields.choice(content.get("association_type"), _ASSOCIATION_TYPES, "association_type")


def _linked_data(content: dict[str, Any]) -> None:
    fields.http_url(content.get("vocabulary_uri"), "vocabulary_uri", optional=False)
    data = fields.json_object(content.get("data"), "data")
    if "@context" not in data:
        raise FieldError("data", "must contain an '@context' key")
    fields.http_url(data["@context"], "data['@context']", optional=False)


def _full_text(content: dict[str, Any]) -> None:
    fields.http_url(content.get("file_url"), "file_url", optional=False)
    fields.integer(content.get("byte_size"), "byte_size")
    for name in ("sha256_checksum", "license", "source"):
        fields.string(content.get(name), name, optional=True)
    fields.string(content.get("mime_type", "application/pdf"), "mime_type")
    fields.choice(content.get("version"), _DRIVER_VERSIONS, "version", optional=True)
    fields.boolean(content.get("is_oa"), "is_oa", optional=True)
    fields.http_url(content.get("source_url"), "source_url")
    fields.date(content.get("retrieved_at"), "retrieved_at")


def _raw(content: dict[str, Any]) -> None:
    fields.date(content.get("source_export_date"), "source_export_date", optional=False)
    fields.string(content.get("description"), "description")
    fields.json_object(content.get("metadata"), "metadata", optional=True)
    if "data" not in content:
        raise FieldError("data", "is required")
    if not content["data"]:
        raise FieldError("data", "must not be empty")


def _shaped(raw: object) -> Enhancement | None:
    """The enhancement, if `enhancement_shapes` finds it valid (its types checked in C).

    None when it cannot tell: the full path then gives the answer and its message.
    """
    if not enhancement_shapes.fits(raw):
        return None
    raw = cast(dict[str, Any], raw)  # the shape is an object
    content = raw["content"]
    return Enhancement(
        source=raw["source"],
        visibility=raw.get("visibility", "public"),
        processor_version=raw.get("processor_version", raw.get("robot_version")),
        enhancement_type=content["enhancement_type"],
        content=content,
    )


_CONTENT_RULES: Mapping[str, Callable[[dict[str, Any]], None]] = {
    "bibliographic": _bibliographic,
    "abstract": _abstract,
    "annotation": _annotation,
    "location": _location,
    "reference_association": _reference_association,
    "linked_data": _linked_data,
    "raw": _raw,
    "full_text": _full_text,
}


def validate_enhancement(raw: object, *, may_hold_nul: bool = True) -> Enhancement:
    r"""Validate one `EnhancementFileInput` object; raise `InvalidEnhancementError` if bad.

    `may_hold_nul=False` (the line has no ``\u0000`` escape) skips the search for NUL
    characters; the default searches.
    """
    try:
        return _validated(raw, may_hold_nul=may_hold_nul)
    except FieldError as error:
        raise InvalidEnhancementError(str(error)) from None


def _validated(raw: object, *, may_hold_nul: bool) -> Enhancement:
    if not may_hold_nul:
        shaped = _shaped(raw)
        if shaped is not None:
            return shaped
    if not isinstance(raw, dict):
        raise FieldError("", f"enhancement must be an object, got {type_name(raw)}")
    fields.known_keys(raw, _ENHANCEMENT_KEYS, "", "enhancement")
    source = raw.get("source")
    fields.string(source, "source", non_empty=True)
    visibility = raw.get("visibility", "public")
    fields.choice(visibility, VISIBILITIES, "visibility")
    version = raw.get("processor_version", raw.get("robot_version"))
    fields.string(version, "processor_version", optional=True)
    if may_hold_nul:
        fields.storable_json(source, "source", may_hold_nul=True)
        fields.storable_json(version, "processor_version", may_hold_nul=True)
    content = fields.json_object(raw.get("content"), "content")
    kind = content.get("enhancement_type")
    if kind == "tombstone":
        raise FieldError("", "a tombstone enhancement is not allowed in an import file")
    fields.choice(kind, ENHANCEMENT_TYPES, "content.enhancement_type")
    kind = str(kind)
    try:
        _CONTENT_RULES[kind](content)
        fields.storable_json(content, "", may_hold_nul=may_hold_nul)
    except FieldError as error:
        raise FieldError("", f"{kind} enhancement: {error.under('content')}") from None
    return Enhancement(
        source=str(source),
        visibility=str(visibility),
        processor_version=version,
        enhancement_type=kind,
        content=content,
    )
