"""The "what is new in the landing directory, and as what record" rules behind new_source_sensor."""

import json
import os
import pathlib
import time

import pytest

from import_pipeline.services.landing import (
    LandedFile,
    LandedFileError,
    landed_record,
    new_sources,
    scan_landing_directory,
)


def touch(path, age_seconds=100.0, text="{}\n"):
    path.write_text(text)
    then = time.time() - age_seconds
    os.utime(path, (then, then))
    return path


def test_scan_keeps_jsonl_and_jsonl_gz_only(tmp_path):
    for name in ("a.jsonl", "b.jsonl.gz", "c.json", "d.jsonl.part", "e.txt"):
        touch(tmp_path / name)
    (tmp_path / "sub.jsonl").mkdir()
    assert [f.path.name for f in scan_landing_directory(tmp_path)] == ["a.jsonl", "b.jsonl.gz"]


def test_new_sources_skips_known_and_unsettled_files(tmp_path):
    old = touch(tmp_path / "old.jsonl", age_seconds=60)
    fresh = touch(tmp_path / "fresh.jsonl", age_seconds=1)
    done = touch(tmp_path / "done.jsonl", age_seconds=60)
    files = scan_landing_directory(tmp_path)
    known = {str(next(f for f in files if f.path == done).record_id)}
    chosen = new_sources(files, known, time.time(), settle_seconds=10)
    assert [f.path for f in chosen] == [old]
    later = new_sources(files, known, time.time() + 20, settle_seconds=10)
    assert sorted(f.path.name for f in later) == sorted([old.name, fresh.name])


def test_record_id_is_stable_per_file_version(tmp_path):
    path = touch(tmp_path / "x.jsonl")
    a = LandedFile(path, 3, 1000.0)
    assert a.record_id == LandedFile(path, 3, 1000.0).record_id
    assert a.record_id != LandedFile(path, 4, 1000.0).record_id  # rewritten: a new import
    assert a.record_id != LandedFile(path, 3, 1001.0).record_id
    assert a.record_id.version == 4  # the DESTINY SDK accepts v4 and v7 ids only


def test_record_ids_of_files_already_imported_do_not_change():
    """An id that changed would import every file of the landing directory again."""
    landed = LandedFile(pathlib.Path("/landing/refs.jsonl"), 3, 1000.5)
    assert str(landed.record_id) == "167797f0-409f-4a58-8f18-c1740042d269"


def test_a_file_that_goes_away_during_the_scan_is_left_out(tmp_path, monkeypatch):
    touch(tmp_path / "stays.jsonl")
    gone = touch(tmp_path / "gone.jsonl")
    real_stat = pathlib.Path.stat
    calls = []

    def stat(path, **kwargs):
        if path == gone:
            calls.append(path)
            if len(calls) > 1:  # found as a file, then removed before its size is read
                raise FileNotFoundError(2, "No such file or directory", str(path))
        return real_stat(path, **kwargs)

    monkeypatch.setattr(pathlib.Path, "stat", stat)
    assert [f.path.name for f in scan_landing_directory(tmp_path)] == ["stays.jsonl"]
    assert len(calls) == 2


def test_record_from_the_file_name_or_its_sidecar(tmp_path):
    plain = LandedFile(touch(tmp_path / "openalex-2026.jsonl.gz"), 1, 1.0)
    record = landed_record(plain)
    assert (record.id, record.source_name, record.processor_name) == (
        plain.record_id,
        "openalex-2026",
        "landing-directory",
    )
    with_meta = LandedFile(touch(tmp_path / "eppi.jsonl"), 1, 1.0)
    (tmp_path / "eppi.jsonl.meta.json").write_text(
        json.dumps(
            {
                "source_name": "EPPI",
                "processor_name": "eppi-importer",
                "expected_reference_count": 4,
                "notes": None,
            }
        )
    )
    record = landed_record(with_meta)
    assert (record.source_name, record.processor_name, record.expected_reference_count) == (
        "EPPI",
        "eppi-importer",
        4,
    )


def test_a_sidecar_without_a_source_name_keeps_the_file_name(tmp_path):
    landed = LandedFile(touch(tmp_path / "pubmed.jsonl"), 1, 1.0)
    (tmp_path / "pubmed.jsonl.meta.json").write_text('{"search_string": "asthma"}')
    record = landed_record(landed)
    assert (record.source_name, record.search_string) == ("pubmed", "asthma")


# Each bad sidecar: its bytes, and what the error says after naming the file and sidecar.
BAD_SIDECARS = {
    "text count": (b'{"expected_reference_count": "lots"}', "expected_reference_count: Input should be a valid integer, got 'lots'"),
    "float count": (b'{"expected_reference_count": 12.0}', "expected_reference_count: Input should be a valid integer"),
    "boolean count": (b'{"expected_reference_count": true}', "expected_reference_count: Input should be a valid integer"),
    "count below -1": (b'{"expected_reference_count": -2}', "expected_reference_count: Input should be greater than or equal to -1"),
    "count over the column": (b'{"expected_reference_count": 2147483648}', "expected_reference_count: Input should be less than or equal to 2147483647"),
    "number as name": (b'{"source_name": 5}', "source_name: Input should be a valid string, got 5"),
    "empty name": (b'{"processor_name": ""}', "processor_name: String should have at least 1 character"),
    "null name": (b'{"processor_version": null}', "processor_version: Input should be a valid string, got None"),
    "NUL in text": (b'{"notes": "a\\u0000b"}', "notes: Value error, must not contain a NUL character"),
    "unknown field": (b'{"colour": "red"}', "colour: Extra inputs are not permitted"),
    "not JSON": (b"not json", "Invalid JSON"),
    "not UTF-8": (b'{"notes": "\xff"}', "Invalid JSON"),
    "not an object": (b"[1]", "Input should be an object"),
    "empty": (b"", "Invalid JSON"),
}  # fmt: skip


@pytest.mark.parametrize(("content", "message"), BAD_SIDECARS.values(), ids=BAD_SIDECARS.keys())
def test_a_bad_sidecar_is_refused_naming_the_file_and_the_field(tmp_path, content, message):
    landed = LandedFile(touch(tmp_path / "x.jsonl"), 1, 1.0)
    (tmp_path / "x.jsonl.meta.json").write_bytes(content)
    with pytest.raises(LandedFileError) as caught:
        landed_record(landed)
    assert str(caught.value).startswith(
        f"{tmp_path / 'x.jsonl'}: sidecar x.jsonl.meta.json is not valid: "
    )
    assert message in str(caught.value)


@pytest.mark.parametrize("kind", ["directory", "dangling link"])
def test_an_unreadable_sidecar_is_refused_naming_it(tmp_path, kind):
    landed = LandedFile(touch(tmp_path / "x.jsonl"), 1, 1.0)
    sidecar = tmp_path / "x.jsonl.meta.json"
    if kind == "directory":
        sidecar.mkdir()
    else:
        sidecar.symlink_to(tmp_path / "nowhere.json")
    with pytest.raises(
        LandedFileError, match=r"x\.jsonl: sidecar x\.jsonl\.meta\.json cannot be read"
    ):
        landed_record(landed)


def refuse_to_open(monkeypatch, path):
    """`path` cannot be opened, as for a file of another user (root reads any file)."""
    real_open = pathlib.Path.open

    def open_(self, *args, **kwargs):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", open_)


def test_a_file_that_cannot_be_opened_is_refused_naming_it(tmp_path, monkeypatch):
    path = touch(tmp_path / "locked.jsonl")
    refuse_to_open(monkeypatch, path)
    with pytest.raises(LandedFileError) as caught:
        landed_record(LandedFile(path, 1, 1.0))
    assert str(caught.value) == f"{path}: cannot be read (Permission denied)"


def test_a_file_name_that_is_not_utf8_is_refused_naming_it(tmp_path):
    (tmp_path / os.fsdecode(b"caf\xe9.jsonl")).write_text("{}\n")  # Latin-1 bytes
    [landed] = scan_landing_directory(tmp_path)
    assert landed.record_id.version == 4  # an id all the same, so the sensor can skip it
    with pytest.raises(LandedFileError) as caught:
        landed_record(landed)
    assert str(caught.value) == (
        f"{tmp_path}/caf\\xe9.jsonl: the file name is not UTF-8 text; rename it"
    )


@pytest.mark.parametrize("name", [".jsonl", ".jsonl.gz"])
def test_a_file_name_without_a_stem_needs_a_source_name(tmp_path, name):
    landed = LandedFile(touch(tmp_path / name), 1, 1.0)
    with pytest.raises(LandedFileError, match="source_name: the file name gives none"):
        landed_record(landed)
    (tmp_path / f"{name}.meta.json").write_text('{"source_name": "named"}')
    assert landed_record(landed).source_name == "named"
