"""Reader for the MTLEndovis sources: EndoVis18 frames, ISINet type masks, EndoVis-18-VQLA labels.

docs/formats.md §2, §7 and §9. The three downloads describe the same frames under different names
(`seq_2/left_frames/frame000.png`, `seq2_frame000.png`, `seq_2/vqla/label/frame000_QA.txt`);
the reader joins them on `seq_N/frameXXX` over the union of frames seen anywhere, so a frame
missing from one source is reported with a §5.5 reason instead of silently disappearing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from endods.errors import SourceError
from endods.fuse import map_states
from endods.sources.base import IdTable, SourceFrame
from endods.sources.discovery import check_root, child, files, find_one, require, resolve, subdirs, vqla_label_dir
from endods.sources.isinet import ISINET_DIR, find_table, load_table, raw_download_error
from endods.sources.vqla import frame_key, read_vqla_label

SOURCE = "endovis18"
VAL_SEQUENCES = frozenset({2, 5, 9, 15})  # organize2018 `val_seqs`: where a missing mask is expected
_SEQ_DIR = re.compile(r"seq_(\d+)", re.IGNORECASE)
_ISINET_STEM = re.compile(r"seq(\d+)_(frame\d+)", re.IGNORECASE)
_FRAME_STEM = re.compile(r"frame\d+", re.IGNORECASE)
# Training release folders (docs/formats.md §9.4); the `_2018` of releases 2-4 is tolerated.
RELEASE_DIR = re.compile(r"miccai_challenge(_2018)?_release_\d+", re.IGNORECASE)
# Names the VQLA-18 labels circulate under (docs/formats.md §9.1).
VQLA18_DIR = re.compile(r"endovis-18-vql?a(-extend(ed)?|_extended(_final)?)?", re.IGNORECASE)


@dataclass(frozen=True)
class Endovis18Paths:
    """Resolved source folders; `endovis18` is optional (ISINet and VQLA carry image copies).

    `frame_dirs` are the EndoVis18 folders whose `seq_N` frames are read (the folder itself and
    its training release folders); `ignored_dirs` hold `seq_N` folders that are not read, such as
    the test data, which reuse the names seq_1..seq_4 (docs/formats.md §9.4).
    """

    root: Path | None
    endovis18: Path | None
    isinet18: Path
    vqla18: Path
    id_table: IdTable | None = None
    frame_dirs: tuple[Path, ...] = ()
    ignored_dirs: tuple[Path, ...] = ()


def discover_endovis18(
    root: Path | None,
    endovis18: Path | None = None,
    isinet18: Path | None = None,
    vqla18: Path | None = None,
) -> Endovis18Paths:
    """Find the three sources under ROOT (case-insensitive, known aliases) or take the explicit folders.

    Raises SourceError naming the folder looked for and where when ROOT is missing or empty, when
    two folders match one source, when the required VQLA labels or ISINet type masks cannot be
    found, or when the ISINet folder holds only the raw download (with the command to organise it).
    """
    root = Path(root) if root is not None else None
    check_root(root, "MTLEndovis")
    e18 = resolve(root, endovis18, "endovis18", "--endovis18")
    isi = require(find_one(root, isinet18, ISINET_DIR, "--isinet18"), root, "isinet18", "--isinet18", ISINET_WHAT)
    vqla = require(
        find_one(root, vqla18, VQLA18_DIR, "--vqla18"), root, "EndoVis-18-VQLA", "--vqla18", "EndoVis-18-VQLA labels"
    )
    if not any(child(split, "annotations") for split in isi.iterdir() if split.is_dir()):
        raw = raw_download_error(isi, root)
        if raw is not None:
            raise raw
        raise SourceError(f"{ISINET_WHAT}: no '<train|val>/annotations' folder found in {isi}")
    if not any(vqla_label_dir(seq) for _m, seq in subdirs(vqla, _SEQ_DIR)):
        raise SourceError(
            f"EndoVis-18-VQLA labels: no 'seq_N/vqa/Classification' (Extended) or 'seq_N/vqla/label' folder "
            f"found in {vqla}"
        )
    table_path = find_table(isi)
    table = load_table(table_path) if table_path is not None else None
    frame_dirs, ignored = _frame_dirs(e18)
    return Endovis18Paths(root, e18, isi, vqla, table, frame_dirs, ignored)


ISINET_WHAT = "ISINet instrument-type masks"


def _frame_dirs(e18: Path | None) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """(folders read, folders with seq_N that are not training releases and so are not read)."""
    if e18 is None:
        return (), ()
    read, ignored = [e18], []
    for folder in sorted(p for p in e18.iterdir() if p.is_dir()):
        if RELEASE_DIR.fullmatch(folder.name):
            read.append(folder)
        elif any(True for _ in subdirs(folder, _SEQ_DIR)):
            ignored.append(folder)
    return tuple(read), tuple(ignored)


def _frame_name(stem: str) -> str:
    """`frame000` keeps its digits as written; only the case of the prefix is normalised."""
    return "frame" + stem[5:]


def _same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    return a.read_bytes() == b.read_bytes()


def _endovis18_images(paths: Endovis18Paths) -> dict[tuple[int, str], Path]:
    """left_frames of seq_N folders in the read folders (never the test data, docs/formats.md §9.4).

    The same frame in two read folders must be the same bytes: otherwise one of them is not the
    training frame, and SourceError names both files.
    """
    found: dict[tuple[int, str], Path] = {}
    for folder in paths.frame_dirs:
        for match, seq_dir in subdirs(folder, _SEQ_DIR):
            for path in files(child(seq_dir, "left_frames"), ".png"):
                if not _FRAME_STEM.fullmatch(path.stem):
                    continue
                key = (int(match.group(1)), _frame_name(path.stem))
                first = found.setdefault(key, path)
                if first != path and not _same_bytes(first, path):
                    raise SourceError(
                        f"EndoVis18 frame seq_{key[0]}/{key[1]} differs between {first} and {path}; keep only "
                        "the training release copy (test data reuse the names seq_1..seq_4)"
                    )
    return found


def _isinet(isi: Path, kind: str) -> dict[tuple[int, str], Path]:
    """`<split>/<kind>/seq{N}_frame{XXX}.png` of every split folder (train, val, ...)."""
    found: dict[tuple[int, str], Path] = {}
    for split in sorted(p for p in isi.iterdir() if p.is_dir()):
        for path in files(child(split, kind), ".png"):
            match = _ISINET_STEM.fullmatch(path.stem)
            if match:
                found.setdefault((int(match.group(1)), _frame_name(match.group(2))), path)
    return found


def _vqla(vqla: Path) -> tuple[dict[tuple[int, str], Path], dict[tuple[int, str], Path], dict[int, Path]]:
    """Label files and left_frames copies by (sequence, frame); also each sequence's folder."""
    labels: dict[tuple[int, str], Path] = {}
    images: dict[tuple[int, str], Path] = {}
    seq_dirs: dict[int, Path] = {}
    for match, seq_dir in subdirs(vqla, _SEQ_DIR):
        seq = int(match.group(1))
        seq_dirs.setdefault(seq, seq_dir)
        label_dir = vqla_label_dir(seq_dir)
        for path in files(label_dir, ".txt"):
            key = frame_key(path)
            if key is not None:
                labels.setdefault((seq, _frame_name(key)), path)
        for path in files(child(seq_dir, "left_frames"), ".png"):
            if _FRAME_STEM.fullmatch(path.stem):
                images.setdefault((seq, _frame_name(path.stem)), path)
    return labels, images, seq_dirs


def read_endovis18(paths: Endovis18Paths) -> list[SourceFrame]:
    """One SourceFrame per frame seen in any source, sorted by frame_id, with `drop` set when the
    frame cannot be built (first applicable of no_vqla_label, no_activity, no_image, no_mask).

    Every VQLA file is parsed, so a bad line or unknown answer anywhere stops the build
    (SourceError naming the file). Pixels are not decoded here.
    """
    e18_images = _endovis18_images(paths)
    isi_images = _isinet(paths.isinet18, "images")
    masks = _isinet(paths.isinet18, "annotations")
    labels, vqla_images, vqla_seqs = _vqla(paths.vqla18)
    keys = set(e18_images) | set(isi_images) | set(masks) | set(labels) | set(vqla_images)
    frames = []
    for seq, name in keys:
        key = (seq, name)
        image = e18_images.get(key) or isi_images.get(key) or vqla_images.get(key)
        mask = masks.get(key)
        label_path = labels.get(key)
        states: tuple[str, ...] = ()
        if label_path is not None:
            states = read_vqla_label(label_path).states
        drop = None
        if label_path is None:
            seq_dir = vqla_seqs.get(seq, paths.vqla18 / f"seq_{seq}")
            drop = ("no_vqla_label", (vqla_label_dir(seq_dir) or seq_dir / "vqla" / "label") / f"{name}_QA.txt")
        elif not states:
            drop = ("no_activity", label_path)
        elif image is None:
            drop = ("no_image", vqla_seqs.get(seq, paths.vqla18 / f"seq_{seq}") / "left_frames" / f"{name}.png")
        elif mask is None:
            split = "val" if seq in VAL_SEQUENCES else "train"
            drop = ("no_mask", paths.isinet18 / split / "annotations" / f"seq{seq}_{name}.png")
        frames.append(
            SourceFrame(
                frame_id=f"seq_{seq}/{name}",
                group=f"seq_{seq}",
                source=SOURCE,
                image_path=image,
                mask_path=mask,
                label_path=label_path,
                states=states,
                drop=drop,
                facts={"states": map_states(states), "answers": list(states)},  # §5.4 step 4
                id_table=paths.id_table,
            )
        )
    return sorted(frames, key=lambda f: f.frame_id)
