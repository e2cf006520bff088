"""Research export parts without the broker: the streamed ZIP, the pseudonyms, docs/export.md in step
with the data dictionary (one source)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

from services.metrics.export.archive import ROWS_PER_CHUNK, zip_stream
from services.metrics.export.content import Ids
from services.metrics.export.dictionary import FILES, dictionary_rows, markdown, readme

ROOT = Path(__file__).resolve().parents[3]


def test_zip_is_streamed_in_chunks_and_reads_back():
    # hashes: rows the compressor cannot shrink much, so output leaves it while rows go in
    rows = ([str(i), hashlib.sha256(str(i).encode()).hexdigest()] for i in range(5 * ROWS_PER_CHUNK))
    files = {}
    chunks = list(zip_stream([("big.csv", ["n", "v"], rows)], [("README.md", "# hello")],
                             lambda name, n: files.setdefault(name, n)))
    assert len(chunks) > 5 and files == {"big.csv": 5 * ROWS_PER_CHUNK, "README.md": 1}
    with zipfile.ZipFile(io.BytesIO(b"".join(chunks))) as archive:
        text = archive.read("big.csv").decode()
        last = 5 * ROWS_PER_CHUNK - 1
        assert text.splitlines()[0] == "n,v"
        assert text.splitlines()[-1] == f"{last}," + hashlib.sha256(str(last).encode()).hexdigest()
        assert archive.read("README.md") == b"# hello" and archive.testzip() is None


def test_pseudonyms_are_keyed_per_export_and_ids_pass_only_when_identified():
    first, second = Ids(identified=False), Ids(identified=False)
    assert first.member("m-1") == first.member("m-1") != second.member("m-1")
    assert "m-1" not in first.member("m-1") and first.member("m-1").startswith("p-")
    assert first.alert("m-1") != first.member("m-1")
    assert Ids(identified=True).member("m-1") == "m-1"


def test_dictionary_covers_every_column_and_docs_hold_it():
    assert len(dictionary_rows()) == sum(len(columns) for _, _, columns in FILES)
    assert all(row[2] and row[3] for row in dictionary_rows())  # a meaning and a type for each
    assert markdown() in (ROOT / "docs" / "export.md").read_text(encoding="utf-8"), \
        "docs/export.md is stale: paste `python -m services.metrics.export.dictionary`"
    assert "Pseudonyms" in readme("c-1", False) and "real ids" in readme("c-1", True)
