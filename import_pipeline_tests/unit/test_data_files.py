"""The suite's data files are intact: decompressed, each matches its manifest's sha256.

The manifests were copied verbatim with the data; their sizes and sha256 are those of
the plain files, so every `.gz` file is checked through its decompressed copy.
"""

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from import_pipeline_tests.data_files import (
    DATA_DIR,
    REAL,
    REAL_SOURCES,
    SDK_SAMPLE_FILES,
    SDK_SAMPLES,
    data_file,
    non_blank_lines,
    plain_copy,
    real_file,
    sdk_sample,
)


def plain(path: Path) -> Path:
    return plain_copy(path) if path.suffix == ".gz" else path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def manifest(directory: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(data_file(f"{directory}/manifest.json").read_text())
    return data


def test_the_lists_of_files_match_the_manifests() -> None:
    assert sorted(manifest(REAL)["files"]) == sorted(REAL_SOURCES)
    sdk = {name for name in manifest(SDK_SAMPLES) if not name.startswith("_")}
    assert sdk == {name.removesuffix(".gz") for name in SDK_SAMPLE_FILES}


def test_the_data_directory_holds_the_listed_files_and_nothing_else() -> None:
    expected = {"README.md", ".gitattributes", f"{REAL}/manifest.json"}
    expected |= {f"{SDK_SAMPLES}/manifest.json"}
    expected |= {f"{REAL}/{stem}.jsonl.gz" for stem in REAL_SOURCES}
    expected |= {f"{REAL}/{stem}.truth.csv.gz" for stem in REAL_SOURCES}
    expected |= {f"{SDK_SAMPLES}/{name}" for name in SDK_SAMPLE_FILES}
    present = {p.relative_to(DATA_DIR).as_posix() for p in DATA_DIR.rglob("*") if p.is_file()}
    assert present == expected


@pytest.mark.parametrize("stem", REAL_SOURCES)
def test_real_files_match_the_manifest(stem: str) -> None:
    entry = manifest(REAL)["files"][stem]
    jsonl = plain_copy(real_file(f"{stem}.jsonl.gz"))
    truth = plain_copy(real_file(f"{stem}.truth.csv.gz"))
    assert (jsonl.stat().st_size, sha256(jsonl)) == (entry["jsonl_bytes"], entry["jsonl_sha256"])
    assert (truth.stat().st_size, sha256(truth)) == (
        entry["truth_csv_bytes"],
        entry["truth_csv_sha256"],
    )
    assert non_blank_lines(jsonl) == non_blank_lines(real_file(f"{stem}.jsonl.gz"))
    assert non_blank_lines(jsonl) == entry["rows"]


@pytest.mark.parametrize("name", SDK_SAMPLE_FILES)
def test_sdk_samples_match_the_manifest(name: str) -> None:
    entry = manifest(SDK_SAMPLES)[name.removesuffix(".gz")]
    path = plain(sdk_sample(name))
    assert (path.stat().st_size, sha256(path)) == (entry["bytes"], entry["sha256"])
    assert non_blank_lines(path) == entry["rows"]


def test_a_missing_data_file_fails_the_test_naming_it() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"test data file missing: .*nope\.jsonl\.gz"):
        real_file("nope.jsonl.gz")
