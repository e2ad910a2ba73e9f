"""Issue 16 cases 7 and 10 (endods side): validate/report/export refuse path cells and re-sealed tampering."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cli.main import app
from endods.dataset import open_dataset
from endods.errors import DatasetError
from endods.export import export_dataset
from endods.pngio import encode_png
from endods.report import build_report

runner = CliRunner()


def _tamper_first_row(ds: Path, column: str, cell: dict) -> str:
    """Replace one Image cell of the first train shard and re-seal the manifest hashes (a careful forger)."""
    shard = sorted((ds / "data").glob("train-*.parquet"))[0]
    table = pq.read_table(shard)
    cells = table.column(column).to_pylist()
    cells[0] = cell
    table = table.set_column(
        table.schema.get_field_index(column), column, pa.array(cells, table.schema.field(column).type)
    )
    pq.write_table(table, shard)
    manifest = json.loads((ds / "manifest.json").read_text())
    rel = shard.relative_to(ds).as_posix()
    manifest["outputs"][rel] = hashlib.sha256(shard.read_bytes()).hexdigest()
    (ds / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return table.column("frame_id")[0].as_py()


@pytest.fixture
def dataset(tiny_built, tmp_path: Path) -> Path:
    copy = tmp_path / "ds"
    shutil.copytree(tiny_built[0], copy)
    return copy


def _cli(*args: str):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


def test_case7_path_cell_is_a_contract_violation(dataset: Path, tmp_path: Path) -> None:
    """Case 7: {bytes: null, path: "/any/file.png"} is never read; validate/report/export give one clear error."""
    secret = tmp_path / "secret.png"
    secret.write_bytes(encode_png(np.zeros((4, 4), np.uint8)))
    frame = _tamper_first_row(dataset, "image", {"bytes": None, "path": str(secret)})
    with pytest.raises(DatasetError, match=f"frame {frame}: image is not embedded bytes \\(path '{secret}'\\)"):
        next(iter(open_dataset(dataset).records("train")))
    for args in (
        ["validate", str(dataset)],
        ["report", str(dataset), "--out", str(tmp_path / "rep")],
        ["export", str(dataset), str(tmp_path / "exp"), "--format", "coco"],
    ):
        result = _cli(*args)
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (args, result.output)
        assert "not embedded bytes" in " ".join(result.output.split()), (args, result.output)
    assert not (tmp_path / "rep").exists() and not (tmp_path / "exp").exists()


def test_case10_resealed_out_of_range_mask_is_refused_by_export_and_report(dataset: Path, tmp_path: Path) -> None:
    """Case 10: a mask with value 99 (manifest re-sealed) is neither exported as raw 100 nor reported."""
    first = next(iter(open_dataset(dataset).records("train")))
    bad = np.full(cv2.imdecode(np.frombuffer(first.mask, np.uint8), cv2.IMREAD_UNCHANGED).shape, 99, np.uint8)
    frame = _tamper_first_row(dataset, "mask", {"bytes": encode_png(bad), "path": None})
    for fmt in ("endoarss", "coco"):
        with pytest.raises(DatasetError, match=rf"mask of frame {frame} holds value\(s\) \[99\] outside the label map"):
            export_dataset(dataset, tmp_path / fmt, fmt)
        assert not (tmp_path / fmt).exists()
    with pytest.raises(DatasetError, match="mask value 99 is outside the label map"):
        build_report(dataset, tmp_path / "rep")


def test_case10_resealed_jpeg_image_is_refused_unless_no_verify(dataset: Path, tmp_path: Path) -> None:
    """Case 10: JPEG bytes in an image cell are never written into a .png file (unless --no-verify)."""
    first = next(iter(open_dataset(dataset).records("train")))
    shape = cv2.imdecode(np.frombuffer(first.mask, np.uint8), cv2.IMREAD_UNCHANGED).shape
    ok, jpeg = cv2.imencode(".jpg", np.zeros((*shape, 3), np.uint8))  # decodes fine, same size: only the check sees it
    frame = _tamper_first_row(dataset, "image", {"bytes": jpeg.tobytes(), "path": None})
    result = _cli("export", str(dataset), str(tmp_path / "exp"), "--format", "endoarss")
    assert result.exit_code == 1 and f"image of frame {frame} is not a PNG" in " ".join(result.output.split())
    assert not (tmp_path / "exp").exists()
    result = _cli("report", str(dataset), "--out", str(tmp_path / "rep"))
    assert result.exit_code == 1 and "image is not a PNG" in " ".join(result.output.split())
    result = _cli("export", str(dataset), str(tmp_path / "exp"), "--format", "endoarss", "--no-verify")
    assert result.exit_code == 0, result.output  # the expert's escape hatch writes it as is


def test_case10_changed_without_reseal_is_still_refused(dataset: Path, tmp_path: Path) -> None:
    """The manifest hashes run first: a shard changed without re-sealing is refused before any record."""
    shard = sorted((dataset / "data").glob("train-*.parquet"))[0]
    shard.write_bytes(shard.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(DatasetError, match="changed after it was built"):
        build_report(dataset, tmp_path / "rep")
