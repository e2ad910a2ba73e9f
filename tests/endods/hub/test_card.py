"""The dataset card: Hub-readable metadata that matches the Parquet schema, deterministic text."""

from __future__ import annotations

import datasets
import numpy as np
import pyarrow.parquet as pq
from huggingface_hub import DatasetCard

from endods.card import render_card
from endods.dataset import open_dataset
from endods.pngio import decode_png
from schemas.labelmaps import MTLENDOVIS, MTLESD
from schemas.manifest import ChangedFrame, Parent
from schemas.records import SPLITS
from tests.endods.hub.conftest import build, make_frames


def test_card_metadata_matches_parquet_schema(built):
    out, manifest = built
    card = DatasetCard.load(out / "README.md")
    infos = datasets.info.DatasetInfosDict.from_dataset_card_data(card.data)
    features = infos["default"].features
    for split in SPLITS:
        schema = pq.read_schema(next((out / "data").glob(f"{split}-*.parquet")))
        assert features == datasets.Features.from_arrow_schema(schema)
    assert features["activity"].names == list(MTLENDOVIS.activities)
    assert {s.name: s.num_examples for s in infos["default"].splits.values()} == {"train": 8, "test": 2}
    data = card.data.to_dict()
    assert data["license"] == "other"
    assert data["license_name"] == "endovis-challenge-terms"
    assert data["task_categories"] == ["image-segmentation", "image-classification"]
    assert data["size_categories"] == ["n<1K"]
    assert data["pretty_name"] == "MTLEndovis"
    assert data["configs"] == [
        {
            "config_name": "default",
            "data_files": [{"split": "train", "path": "data/train-*"}, {"split": "test", "path": "data/test-*"}],
        }
    ]
    # The Hub's ClassLabel form: names keyed by the string id.
    assert data["dataset_info"]["features"][2]["dtype"]["class_label"]["names"]["11"] == "ultrasound_sensing"


def test_load_dataset_reads_the_folder_back(built):
    out, manifest = built
    dd = datasets.load_dataset(str(out))
    assert {s: len(dd[s]) for s in dd} == {"train": 8, "test": 2}
    assert dd["train"].features["activity"].names == list(MTLENDOVIS.activities)
    frames = {f.frame_id: f for f in make_frames(MTLENDOVIS, "endovis18")}
    row = dd["test"][0]
    src = frames[row["frame_id"]]
    assert row["activity"] == src.activity
    assert np.array_equal(np.asarray(row["mask"]), decode_png(src.mask_png))  # masks decode as class ids


def test_card_is_byte_identical_and_free_of_machine_facts(tmp_path):
    a = build(tmp_path / "a" / "out", provenance={"command": "endods build A", "created": "t1"})
    b = build(tmp_path / "b" / "out", provenance={"command": "endods build B", "created": "t2"})
    card_a = (tmp_path / "a" / "out" / "README.md").read_bytes()
    assert card_a == (tmp_path / "b" / "out" / "README.md").read_bytes()
    assert a.version == b.version
    text = card_a.decode()
    assert str(tmp_path) not in text and "endods build A" not in text and "t1" not in text
    # The card is a function of the manifest alone: re-rendering from the loaded manifest reproduces it.
    ds = open_dataset(tmp_path / "a" / "out")
    assert render_card(ds.manifest, ds.labelmap) == text


def test_card_text_counts_build_facts_terms_and_citations(built):
    out, manifest = built
    text = (out / "README.md").read_text()
    # activity ids 0,1,2 cycle over 10 frames: 4/3/3 frames; paper split 0.2 takes 2 to test.
    rows = {
        name: manifest.counts["train"].activities[name] + manifest.counts["test"].activities[name]
        for name in MTLENDOVIS.activities[:3]
    }
    assert rows == {"cauterization": 4, "clipping": 3, "cutting": 3}
    train, test = manifest.counts["train"].activities, manifest.counts["test"].activities
    assert f"| 0 `cauterization` | {train['cauterization']} | {test['cauterization']} | 4 |" in text
    assert "| **all** | 8 | 2 | 10 |" in text
    pix = manifest.counts["train"].class_pixels
    share = 100 * pix["3"] / sum(pix.values())
    assert f"| 3 | Large Needle Driver | {share:.2f}% |" in text
    assert "| 3 | Large Needle Driver | (255, 0, 255) | `#ff00ff` |" in text
    assert "| `no_activity` | 1 |" in text
    assert f"| `endovis18` | {manifest.sources['endovis18'].files} | `{manifest.sources['endovis18'].digest}` |" in text
    assert "`paper`" in text and "0.2 / 0" in text and "policy P1" in text
    assert "non-commercial research" in text and "without the organisers' permission" in text
    for key in ("arXiv:2506.06830", "arXiv:2001.11190", "gonzalez2020isinet", "bai2023surgicalvqla"):
        assert key in text
    assert "arXiv:1902.06426" not in text  # EndoVis 2017 is not a source of MTLEndovis
    assert "load_dataset(" in text and "## Review" not in text


def test_esd_card_has_crop_private_terms_and_no_endovis(tmp_path):
    build(tmp_path / "esd", dataset="mtlesd")
    card = DatasetCard.load(tmp_path / "esd" / "README.md")
    assert card.data.license_name == "private-clinical-data"
    names = card.data.to_dict()["dataset_info"]["features"][2]["dtype"]["class_label"]["names"]
    assert list(names.values()) == list(MTLESD.activities)
    assert "x=307, y=35, 1306×1009" in card.text
    assert "private endoscopic submucosal dissection" in card.text
    assert "EndoVis" not in card.text and "arXiv:2506.06830" in card.text


def test_reviewed_version_card_has_review_section(tmp_path):
    parent = Parent(
        version="abcdef012345",
        labelstudio={"url": "http://127.0.0.1:8080", "project": 3},
        changed=[
            ChangedFrame(
                frame_id="seq_0/frame000", mask_pixels_changed=40, activity_before="idle", activity_after="idle"
            ),
            ChangedFrame(
                frame_id="seq_1/frame001", mask_pixels_changed=0, activity_before="idle", activity_after="cutting"
            ),
            ChangedFrame(
                frame_id="seq_0/frame002", mask_pixels_changed=2, activity_before="idle", activity_after="cutting"
            ),
        ],
        sources={"endovis18": {"files": 12, "digest": "d" * 64}},  # what `labelstudio import` records
    )
    build(tmp_path / "r", parent=parent)
    text = (tmp_path / "r" / "README.md").read_text()
    assert "reviewed revision of version `abcdef012345`" in text
    # `labelstudio import` reads no sources itself: the card then shows the parent's, saying so
    manifest = open_dataset(tmp_path / "r").manifest.model_copy(update={"sources": {}})
    text = render_card(manifest, MTLENDOVIS)
    assert "Those of the parent version `abcdef012345`" in text and f"| `endovis18` | 12 | `{'d' * 64}` |" in text
    assert "Not recorded" not in text
    assert "3 frames changed: 2 with edited masks (42 mask pixels in total) and 2 with a changed activity" in text
    assert "| idle | cutting | 2 |" in text
    assert "127.0.0.1" not in text  # the reviewer's server address is a machine fact
