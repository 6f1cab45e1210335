"""External identifiers of a reference and their canonical forms (file-format.md).

A canonical identifier is what the exact-duplicate rule compares: two lines that carry
the same canonical identifier describe the same reference. Patterns are anchored. Field
types follow the SDK's identifier models; on top of them a canonical identifier must be
storable (`limits`): no NUL character, a key of at most `MAX_IDENTIFIER_BYTES`, a
PubMed id within `MAX_INTEGER`.
"""

import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import orjson

from import_pipeline.domain.errors import InvalidDataError
from import_pipeline.domain.excerpts import excerpt, excerpt_names, type_name
from import_pipeline.domain.limits import (
    MAX_IDENTIFIER_BYTES,
    MAX_INTEGER,
    NUL,
    identifier_key_too_long,
)


class CanonicalIdentifier(NamedTuple):
    """One external identifier in canonical form (a tuple: millions are made per import).

    `key` is unique across identifier types and is what the store indexes: a canonical
    identifier belongs to at most one reference. Build one with `CanonicalIdentifier.of`.
    """

    identifier_type: str
    identifier: str
    other_identifier_name: str | None
    key: str

    @classmethod
    def of(
        cls, identifier_type: str, identifier: str, other_identifier_name: str | None = None
    ) -> "CanonicalIdentifier":
        """The identifier with its type-qualified key, e.g. ``doi:10.1000/abc``."""
        if identifier_type == "other":
            key = "other:" + orjson.dumps([other_identifier_name, identifier]).decode()
        else:
            key = f"{identifier_type}:{identifier}"
        return cls(identifier_type, identifier, other_identifier_name, key)

    def as_json(self) -> dict[str, Any]:
        """The identifier as a DESTINY `ExternalIdentifier` object."""
        value: Any = int(self.identifier) if self.identifier_type == "pm_id" else self.identifier
        data: dict[str, Any] = {"identifier_type": self.identifier_type, "identifier": value}
        if self.other_identifier_name is not None:
            data["other_identifier_name"] = self.other_identifier_name
        return data


class InvalidIdentifierError(InvalidDataError):
    """An identifier that cannot be canonicalised; the message says why."""


_DOI = re.compile(r"10\.\d{4,9}/\S+")
_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:)", re.IGNORECASE)
_OPEN_ALEX = re.compile(r"W\d+")
_OPEN_ALEX_PREFIX = re.compile(
    r"^(?:https?://)?(?:explore\.openalex\.org/|openalex\.org/)?(?:works/)?", re.IGNORECASE
)
_ERIC = re.compile(r"E[DJ]\d+")
_ERIC_PREFIX = re.compile(
    r"^(?:https?://)?(?:eric\.ed\.gov/\?id=|files\.eric\.ed\.gov/fulltext/)?", re.IGNORECASE
)
_PRO_QUEST = re.compile(r"\d+")
_PRO_QUEST_PREFIX = re.compile(
    r"^(?:https?://)?(?:search\.proquest\.com/|www\.proquest\.com/)?(?:docview/)?", re.IGNORECASE
)


def _require_string(value: object, identifier_type: str) -> str:
    if not isinstance(value, str):
        raise InvalidIdentifierError(
            f"{identifier_type} identifier must be a string, got {type_name(value)}"
        )
    stripped = value.strip()
    if not stripped:
        raise InvalidIdentifierError(f"{identifier_type} identifier is empty")
    return stripped


def canonical_doi(value: object) -> str:
    """Canonical DOI: NFC, dash and space folding, URL/`doi:` prefix stripped, lower case."""
    text = unicodedata.normalize("NFC", _require_string(value, "doi"))
    text = text.replace("\u00a0", " ").replace("\u2010", "-")
    text = _DOI_PREFIX.sub("", text).strip().lower()
    if not _DOI.fullmatch(text):
        raise InvalidIdentifierError(
            f"invalid doi {excerpt(value)}: expected 10.<4-9 digits>/<suffix>"
        )
    return text


_MAX_PM_ID_DIGITS = len(str(MAX_INTEGER))


def canonical_pm_id(value: object) -> str:
    """Canonical PubMed id: a positive integer up to `MAX_INTEGER`, rendered in decimal."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        digits = value.strip().lstrip("0") or "0"
        if len(digits) > _MAX_PM_ID_DIGITS:  # before int(): a huge one would be slow or refused
            raise _pm_id_out_of_range(value)
        number = int(digits)
    else:
        raise InvalidIdentifierError(f"invalid pm_id {excerpt(value)}: expected a positive integer")
    if number <= 0:
        raise InvalidIdentifierError(f"invalid pm_id {excerpt(value)}: expected a positive integer")
    if number > MAX_INTEGER:
        raise _pm_id_out_of_range(value)
    return str(number)


def _pm_id_out_of_range(value: object) -> InvalidIdentifierError:
    return InvalidIdentifierError(
        f"invalid pm_id {excerpt(value)}: out of range (at most {MAX_INTEGER:,})"
    )


def _prefixed(
    pattern: re.Pattern[str], prefix: re.Pattern[str], kind: str, expected: str
) -> Callable[[object], str]:
    def canonical(value: object) -> str:
        text = prefix.sub("", _require_string(value, kind), count=1)
        if kind == "eric":
            text = text.removesuffix(".pdf")
        if not pattern.fullmatch(text):
            raise InvalidIdentifierError(f"invalid {kind} {excerpt(value)}: expected {expected}")
        return text

    canonical.__doc__ = f"Canonical {kind} identifier ({expected}), URL prefixes stripped."
    return canonical


canonical_open_alex = _prefixed(_OPEN_ALEX, _OPEN_ALEX_PREFIX, "open_alex", "W<digits>")
canonical_eric = _prefixed(_ERIC, _ERIC_PREFIX, "eric", "ED<digits> or EJ<digits>")
canonical_pro_quest = _prefixed(_PRO_QUEST, _PRO_QUEST_PREFIX, "pro_quest", "<digits>")


def canonical_url(value: object) -> str:
    """Canonical URL: absolute http(s), scheme and host lower-cased, default port dropped."""
    text = _require_string(value, "url")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise InvalidIdentifierError(f"invalid url {excerpt(value)}: {error}") from None
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname or " " in text:
        raise InvalidIdentifierError(
            f"invalid url {excerpt(value)}: expected an absolute http(s) URL"
        )
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    default_port = {"http": 80, "https": 443}[scheme]
    netloc = host if port in (None, default_port) else f"{host}:{port}"
    if parts.username or parts.password:
        credentials = parts.username or ""
        if parts.password:
            credentials += f":{parts.password}"
        netloc = f"{credentials}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, parts.fragment))


_CANONICALISERS: Mapping[str, Callable[[object], str]] = {
    "doi": canonical_doi,
    "pm_id": canonical_pm_id,
    "open_alex": canonical_open_alex,
    "eric": canonical_eric,
    "pro_quest": canonical_pro_quest,
    "url": canonical_url,
}

IDENTIFIER_TYPES = frozenset({*_CANONICALISERS, "other"})
_ALLOWED_KEYS = frozenset({"identifier_type", "identifier", "other_identifier_name"})


def canonicalise_identifier(raw: object) -> CanonicalIdentifier:
    """Validate one DESTINY `ExternalIdentifier` object and return its canonical form.

    Raises `InvalidIdentifierError` with a message naming the type and what is wrong.
    """
    if not isinstance(raw, dict):
        raise InvalidIdentifierError(f"identifier must be an object, got {type_name(raw)}")
    identifier_type = raw.get("identifier_type")
    if not isinstance(identifier_type, str):
        raise InvalidIdentifierError(
            f"identifier_type: expected one of {sorted(IDENTIFIER_TYPES)}, "
            f"got {type_name(identifier_type)}"
        )
    if identifier_type not in IDENTIFIER_TYPES:
        raise InvalidIdentifierError(f"unknown identifier_type {excerpt(identifier_type)}")
    unknown = raw.keys() - _ALLOWED_KEYS
    if unknown:
        raise InvalidIdentifierError(
            f"{identifier_type} identifier has unknown fields {excerpt_names(unknown)}"
        )
    if "identifier" not in raw:
        raise InvalidIdentifierError(f"{identifier_type} identifier has no 'identifier' value")
    return _storable(_canonical(identifier_type, raw), raw["identifier"])


def _canonical(identifier_type: str, raw: dict[str, Any]) -> CanonicalIdentifier:
    if identifier_type == "other":
        name = raw.get("other_identifier_name")
        if name is not None and not isinstance(name, str):
            raise InvalidIdentifierError(
                f"other_identifier_name: expected a string, got {type_name(name)}"
            )
        if not name or not name.strip():
            raise InvalidIdentifierError("other identifier needs a non-empty other_identifier_name")
        return CanonicalIdentifier.of("other", _require_string(raw["identifier"], "other"), name)
    if "other_identifier_name" in raw:
        raise InvalidIdentifierError(
            f"{identifier_type} identifier must not have other_identifier_name"
        )
    return CanonicalIdentifier.of(
        identifier_type, _CANONICALISERS[identifier_type](raw["identifier"])
    )


def _storable(identifier: CanonicalIdentifier, value: object) -> CanonicalIdentifier:
    """`identifier` if both stores can hold and index it; `value` is the one given."""
    kind = identifier.identifier_type
    name = identifier.other_identifier_name or ""
    if NUL in identifier.identifier or NUL in name:  # the key escapes a NUL in `other`'s
        raise InvalidIdentifierError(
            f"{kind} identifier {excerpt(value)} holds a NUL character (\\u0000), "
            "which cannot be stored"
        )
    size = identifier_key_too_long(identifier.key)
    if size is not None:
        raise InvalidIdentifierError(
            f"{kind} identifier {excerpt(value)} is too long: {size:,} bytes as stored "
            f"(at most {MAX_IDENTIFIER_BYTES:,})"
        )
    return identifier
