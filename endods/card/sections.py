"""Human-readable sections of the dataset card, each a pure function of manifest + label map.

Nothing here may read the file system, the clock or the command line: the card is hashed into the
dataset version, so two identical builds must render the same bytes. For the same reason the card
never uses `manifest.version` or `manifest.outputs` (they are computed after the card exists).
"""

from __future__ import annotations

from endods.card.metadata import display_name, present_splits
from endods.card.terms import DatasetKind
from endods.text import plural
from schemas.labelmaps import IGNORE_INDEX, LabelMap
from schemas.manifest import Manifest

# docs/formats.md §5.4: policy P1 priority (most specific first).
P1_PRIORITY = (
    "stapling > clipping > cutting > suturing > cauterization > ultrasound_sensing > suction > looping > "
    "retraction > grasping > manipulation > idle"
)

# docs/formats.md §5.5: why a frame was left out.
DROP_REASONS = {
    "no_vqla_label": "image and mask but no VQLA label file",
    "no_activity": "VQLA label file without a tool-state question",
    "no_phase": "ESD frame in no phase interval",
    "phase_not_selected": "ESD frame in a phase that is not a selected activity",
    "no_image": "label (and mask) but no image in any source",
    "no_mask": "image and label but no instrument-type mask",
    "unreadable_image": "image or mask that does not decode",
    "frame_out_of_range": "ESD frame index past the end of its video",
}

# Paper Table I (train / test / total), for comparison.
PAPER_COUNTS = {"mtlendovis": (1601, 395, 1996), "mtlendovis-gen": (0, 97, 97), "mtlesd": (1618, 402, 2020)}

SPLIT_MODES = {
    "paper": "per-activity random 4:1 split at frame level, as in the paper (frames of one sequence or "
    "video can land in both splits)",
    "group": "whole sequences/videos move to test, so no group is in both splits",
    "test-only": "every frame is in test (a held-out evaluation set)",
    "given": "split taken over unchanged from the parent dataset",
}


def md(text: object) -> str:
    """Escape a value for a Markdown table cell (names come from user files, e.g. COCO categories)."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def summary(manifest: Manifest, labelmap: LabelMap, kind: DatasetKind) -> list[str]:
    name = display_name(manifest, labelmap)
    what = {
        "endovis18": "frames of the MICCAI EndoVis 2018 Robotic Scene Segmentation challenge with ISINet "
        "instrument-type masks, and one surgical activity per frame derived from the EndoVis-18-VQLA "
        "tool-state labels",
        "endovis17": "frames of the MICCAI EndoVis 2017 Robotic Instrument Segmentation challenge with its "
        "instrument-type masks, and one surgical activity per frame derived from the EndoVis-17-VQLA "
        "tool-state labels. It is a test-only generalisation set that uses the MTLEndovis ids for activities "
        "and classes, so a model trained on MTLEndovis evaluates on it without remapping",
        "esd": "frames of endoscopic submucosal dissection (ESD) videos with COCO segmentation masks and one "
        "surgical activity (the annotated phase) per frame",
        "other": "frames imported from an existing EndoARSS folder layout",
    }[kind]
    total = sum(manifest.counts[s].frames for s in present_splits(manifest))
    lines = [
        f"# {name}",
        "",
        f"{name} is a multi-task dataset for surgical **activity recognition** and **semantic segmentation**, "
        f"one of the datasets of EndoARSS (Wang et al., 2025). It holds {total} {what}.",
        "",
        f"Built with {manifest.tool.name} {manifest.tool.version}: {labelmap.num_activities} activities, "
        f"{labelmap.num_classes - 1} segmentation classes plus background. The dataset version is the "
        "`version` field of `manifest.json` (a hash of these files, this card included, so the card "
        "cannot state it); on the Hub it is also a tag.",
    ]
    if manifest.dataset in PAPER_COUNTS:
        tr, te, tot = PAPER_COUNTS[manifest.dataset]
        lines += [
            "",
            f"For comparison, the paper (Table I) reports {tr} train / {te} test / {tot} frames. The paper does "
            "not publish its frame-to-activity rule, so per-activity counts here can differ from the authors' "
            "release.",
        ]
    return lines


def structure(labelmap: LabelMap) -> list[str]:
    return [
        "## Dataset structure",
        "",
        "| field | type | meaning |",
        "|---|---|---|",
        "| `image` | Image | RGB frame (PNG) |",
        f"| `mask` | Image | single-channel PNG: pixel = segmentation class id (0 = background, "
        f"{IGNORE_INDEX} = ignore) |",
        f"| `activity` | ClassLabel | one of {labelmap.num_activities} activities (names below) |",
        "| `frame_id` | string | stable id, e.g. `seq_3/frame042` or `video_07/000123` |",
        "| `group` | string | sequence or video: the unit a leakage-free split keeps on one side |",
        "| `source` | string | `endovis18`, `endovis17` or `esd` |",
    ]


def build_section(manifest: Manifest, labelmap: LabelMap, kind: DatasetKind) -> list[str]:
    opts = manifest.options
    lines = ["## How it was built", ""]
    if kind in ("endovis18", "endovis17"):
        lines.append(
            "- **Activity (policy P1):** all tool-state answers of a frame are mapped to activities "
            "(`Tissue_Manipulation`/`Tool_Manipulation` → manipulation, `Staple` → stapling); the frame takes "
            f"the first present in the priority list {P1_PRIORITY}. Frames without a state question are dropped."
        )
    elif kind == "esd":
        lines.append(
            "- **Activity:** the annotated surgical phase interval containing the frame; selected phases: "
            + ", ".join(f"`{a}`" for a in opts.get("activities") or labelmap.activities)
            + ". Frames in no phase or in another phase are dropped."
        )
        if opts.get("crop"):
            x, y, w, h = opts["crop"]
            lines.append(f"- **Crop:** window x={x}, y={y}, {w}×{h} px applied to full-size frames and masks.")
    mode = opts.get("split", "given")
    lines.append(f"- **Split:** `{mode}`: {SPLIT_MODES.get(mode, mode)}.")
    if mode != "given" and "seed" in opts:
        lines.append(f"- **Test fraction / seed:** {opts.get('test_fraction')} / {opts['seed']}.")
    lines.append(
        "- **Strict:** "
        + (
            "yes (a damaged or incomplete frame would have stopped the build)."
            if opts.get("strict")
            else "no (damaged or incomplete frames are skipped and listed)."
        )
    )
    lines += ["", "### Dropped frames", ""]
    by_reason: dict[str, int] = {}
    for d in manifest.dropped:
        by_reason[d.reason] = by_reason.get(d.reason, 0) + 1
    if by_reason:
        lines += ["| reason | frames | meaning |", "|---|---|---|"]
        lines += [f"| `{r}` | {n} | {md(DROP_REASONS.get(r, ''))} |" for r, n in sorted(by_reason.items())]
        lines += ["", "Every dropped frame is listed with its reason in `manifest.json` (`dropped`)."]
    else:
        lines.append("None.")
    lines += ["", "### Source digests", ""]
    sources = {n: (s.files, s.digest) for n, s in manifest.sources.items()}
    intro = "sha256 over the sorted relative paths and file hashes of every source file read:"
    parent_sources = (manifest.parent.model_extra or {}).get("sources") if manifest.parent else None
    if not sources and isinstance(parent_sources, dict):  # a reviewed version read no sources itself
        sources = {n: (d.get("files"), d.get("digest")) for n, d in parent_sources.items() if isinstance(d, dict)}
        intro = f"Those of the parent version `{manifest.parent.version}` (this version re-labels its frames): {intro}"
    if sources:
        lines += [intro, "", "| source | files | digest |", "|---|---|---|"]
        lines += [f"| `{md(n)}` | {files} | `{digest}` |" for n, (files, digest) in sorted(sources.items())]
    else:
        lines.append("Not recorded.")
    return lines


def counts_section(manifest: Manifest, labelmap: LabelMap) -> list[str]:
    splits = present_splits(manifest)
    counts = {s: manifest.counts[s] for s in splits}
    head = "| activity | " + " | ".join(splits) + " | total |"
    lines = ["## Counts", "", "Frames per split and activity:", "", head, "|---" * (len(splits) + 2) + "|"]
    for i, name in enumerate(labelmap.activities):
        row = [counts[s].activities.get(name, 0) for s in splits]
        lines.append(f"| {i} `{md(name)}` | " + " | ".join(map(str, row)) + f" | {sum(row)} |")
    totals = [counts[s].frames for s in splits]
    lines.append("| **all** | " + " | ".join(map(str, totals)) + f" | {sum(totals)} |")
    lines += [
        "",
        f"Share of labelled pixels per segmentation class (ignore pixels, {IGNORE_INDEX}, excluded):",
        "",
        "| id | class | " + " | ".join(splits) + " |",
        "|---" * (len(splits) + 2) + "|",
    ]
    sums = {s: sum(counts[s].class_pixels.values()) for s in splits}
    for c in labelmap.classes:
        cells = [f"{100 * counts[s].class_pixels.get(str(c.id), 0) / sums[s]:.2f}%" if sums[s] else "-" for s in splits]
        lines.append(f"| {c.id} | {md(c.name)} | " + " | ".join(cells) + " |")
    return lines


def labelmap_section(labelmap: LabelMap) -> list[str]:
    lines = [
        "## Segmentation label map",
        "",
        "Mask pixel value = class id. Colours are for overlays only.",
        "",
        "| id | class | colour (RGB) | hex |",
        "|---|---|---|---|",
    ]
    for c in labelmap.classes:
        r, g, b = c.color
        lines.append(f"| {c.id} | {md(c.name)} | ({r}, {g}, {b}) | `#{r:02x}{g:02x}{b:02x}` |")
    lines.append(f"| {IGNORE_INDEX} | ignore (not scored) | (255, 255, 255) | `#ffffff` |")
    return lines


def usage_section(manifest: Manifest, labelmap: LabelMap) -> list[str]:
    split = present_splits(manifest)[-1] if present_splits(manifest) else "test"
    return [
        "## Usage",
        "",
        "```python",
        "import numpy as np",
        "from datasets import load_dataset",
        "",
        'ds = load_dataset("<org>/<name>", revision="<version>")  # or a local folder path',
        f'row = ds["{split}"][0]',
        'image = np.asarray(row["image"])  # (H, W, 3) uint8 RGB',
        f'mask = np.asarray(row["mask"])  # (H, W) uint8: class ids, {IGNORE_INDEX} = ignore',
        f'activity = ds["{split}"].features["activity"].int2str(row["activity"])',
        "```",
        "",
        "Decode masks with `np.asarray` (never convert them to RGB): the pixel values are the class ids of "
        "the label map above. `revision` pins one version (the tag named after `manifest.json`'s `version`); "
        "leave it out for the latest.",
    ]


def review_section(manifest: Manifest) -> list[str]:
    parent = manifest.parent
    if parent is None:
        return []
    changed = parent.changed
    masks = sum(1 for c in changed if c.mask_pixels_changed > 0)
    activities = sum(1 for c in changed if c.activity_before != c.activity_after)
    pixels = sum(c.mask_pixels_changed for c in changed)
    accepted = sum(1 for c in changed if c.model_accepted)
    lines = [
        "## Review",
        "",
        f"This version is a reviewed revision of version `{parent.version}`, reviewed in Label Studio. "
        f"{plural(len(changed), 'frame')} changed: {masks} with edited masks ({plural(pixels, 'mask pixel')} in "
        f"total) and {activities} with a changed activity; {accepted} took the model's prediction as is and "
        f"{len(changed) - accepted} were drawn by a reviewer. Per-frame changes are listed in `manifest.json` "
        "(`parent.changed`, `model_accepted`).",
    ]
    transitions: dict[tuple[str, str], int] = {}
    for c in changed:
        if c.activity_before != c.activity_after:
            key = (c.activity_before, c.activity_after)
            transitions[key] = transitions.get(key, 0) + 1
    if transitions:
        lines += ["", "| activity before | activity after | frames |", "|---|---|---|"]
        lines += [f"| {md(a)} | {md(b)} | {n} |" for (a, b), n in sorted(transitions.items())]
    return lines
