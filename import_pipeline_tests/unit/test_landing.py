"""The pure "what is new in the landing directory" rules behind new_source_sensor."""

import json
import os
import time

import pytest

from import_pipeline.services.landing import (
    LandedFile,
    new_sources,
    scan_landing_directory,
    source_settings,
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


def test_source_settings_from_name_or_sidecar(tmp_path):
    plain = LandedFile(touch(tmp_path / "openalex-2026.jsonl.gz"), 1, 1.0)
    assert source_settings(plain).source_name == "openalex-2026"
    with_meta = LandedFile(touch(tmp_path / "eppi.jsonl"), 1, 1.0)
    (tmp_path / "eppi.jsonl.meta.json").write_text(
        json.dumps(
            {
                "source_name": "EPPI",
                "processor_name": "eppi-importer",
                "expected_reference_count": 4,
            }
        )
    )
    meta = source_settings(with_meta)
    assert (meta.source_name, meta.processor_name, meta.expected_reference_count) == (
        "EPPI",
        "eppi-importer",
        4,
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "unreadable sidecar"),
        ("[1]", "must be a JSON object"),
        ('{"colour": "red"}', "unknown fields ['colour']"),
    ],
)
def test_bad_sidecar_is_named(tmp_path, content, message):
    landed = LandedFile(touch(tmp_path / "x.jsonl"), 1, 1.0)
    (tmp_path / "x.jsonl.meta.json").write_text(content)
    with pytest.raises(ValueError, match=r"x\.jsonl\.meta\.json") as caught:
        source_settings(landed)
    assert message in str(caught.value)
