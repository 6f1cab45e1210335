"""Parsing one DESTINY `ReferenceFileInput` line into what the reference resource needs.

`parse_line` never raises for bad input: every problem becomes part of the returned
`ParsedLine`, whose `status` is the per-line outcome of spec section 3 before the
duplicate rules are applied. Failure details start with ``Entry <line_number>:``, name
the field path of what is wrong and quote values as `excerpts.excerpt` does. Whatever
JSON a line holds, what passes can be stored (`limits`), so a line's data cannot fail
its chunk's transaction.
"""

from dataclasses import dataclass, field

import orjson

from import_pipeline.domain import fields
from import_pipeline.domain.enhancements import (
    VISIBILITIES,
    Enhancement,
    InvalidEnhancementError,
    validate_enhancement,
)
from import_pipeline.domain.excerpts import type_name
from import_pipeline.domain.identifiers import (
    CanonicalIdentifier,
    InvalidIdentifierError,
    canonicalise_identifier,
)
from import_pipeline.domain.limits import may_hold_nul
from import_pipeline.domain.statuses import ImportResultStatus

_TOP_LEVEL_KEYS = frozenset({"visibility", "identifiers", "enhancements", "id"})


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """One source line after validation: what to import, and what was dropped or why not."""

    line_number: int
    identifiers: tuple[CanonicalIdentifier, ...] = ()
    enhancements: tuple[Enhancement, ...] = ()
    visibility: str = "public"
    dropped: tuple[str, ...] = field(default=())
    failure: str | None = None
    source_bytes: int = 0
    """Length of the source line (bytes, or characters when read as text) when it was
    parsed into identifiers and enhancements: what it weighs in memory (0 for a failed
    line, which keeps nothing of it)."""

    @property
    def status(self) -> ImportResultStatus:
        """The line's outcome as far as parsing can tell."""
        if self.failure is not None:
            return ImportResultStatus.FAILED
        if self.dropped:
            return ImportResultStatus.PARTIALLY_FAILED
        return ImportResultStatus.COMPLETED

    @property
    def details(self) -> str | None:
        """Failure details for the result row: the failure, or what was dropped."""
        if self.failure is not None:
            return self.failure
        if self.dropped:
            return f"Entry {self.line_number}: imported without " + "; ".join(self.dropped)
        return None


def failed_line(line_number: int, reason: str) -> ParsedLine:
    """A line that imports nothing, with details ``Entry <n>: <reason>``."""
    return ParsedLine(line_number=line_number, failure=f"Entry {line_number}: {reason}")


def parse_line(line_number: int, text: bytes | str) -> ParsedLine:
    """Validate one non-blank line and canonicalise its identifiers."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        return failed_line(line_number, f"not valid JSON ({error})")
    if not isinstance(data, dict):
        return failed_line(line_number, f"expected a JSON object, got {type_name(data)}")
    try:
        fields.known_keys(data, _TOP_LEVEL_KEYS, "", "top-level")
        visibility = data.get("visibility", "public")
        fields.choice(visibility, VISIBILITIES, "visibility")
        raw_identifiers = data.get("identifiers")
        if raw_identifiers is None or raw_identifiers == []:
            raise fields.FieldError("", "no identifiers (at least one is required)")
        fields.json_list(raw_identifiers, "identifiers")
        raw_enhancements = fields.json_list(data.get("enhancements"), "enhancements", optional=True)
    except fields.FieldError as error:
        return failed_line(line_number, str(error))

    identifiers: dict[str, CanonicalIdentifier] = {}
    identifier_errors: list[str] = []
    for index, raw in enumerate(raw_identifiers):
        try:
            identifier = canonicalise_identifier(raw)
        except InvalidIdentifierError as error:
            identifier_errors.append(f"identifiers[{index}]: {error}")
        else:
            identifiers.setdefault(identifier.key, identifier)
    if not identifiers:
        return failed_line(
            line_number, "every identifier is invalid: " + "; ".join(identifier_errors)
        )

    enhancements: list[Enhancement] = []
    dropped = [f"invalid identifier ({message})" for message in identifier_errors]
    nul_possible = may_hold_nul(text)
    for index, raw in enumerate(raw_enhancements):
        try:
            enhancements.append(validate_enhancement(raw, may_hold_nul=nul_possible))
        except InvalidEnhancementError as error:
            dropped.append(f"invalid enhancement (enhancements[{index}]: {error})")
    return ParsedLine(
        line_number=line_number,
        identifiers=tuple(identifiers.values()),
        enhancements=tuple(enhancements),
        visibility=str(visibility),
        dropped=tuple(dropped),
        source_bytes=len(text),
    )
