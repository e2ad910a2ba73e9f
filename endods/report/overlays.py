"""Overlay contact sheets: frames with their masks in the label-map colours, one sheet per activity.

The point is to let a person check labels by eye: a translucent fill shows which class a region is,
and a contour with a dark rim keeps the boundary visible on bright tissue and on yellow/green classes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from endods.report.stats import Thumb
from schemas.labelmaps import IGNORE_INDEX, LabelMap

ALPHA = 0.45
COLUMNS = 4
PAD = 10
CAPTION_H = 22
SHEET_BG = (255, 255, 255)
TEXT = (33, 37, 41)
IGNORE_COLOR = (255, 255, 255)
SPLIT_TEXT = {"train": (45, 80, 140), "test": (180, 80, 20)}


@lru_cache(maxsize=8)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """matplotlib's bundled DejaVu Sans: the same glyphs on every machine, no system font needed."""
    try:
        from matplotlib import font_manager

        return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)
    except (OSError, ValueError):
        return ImageFont.load_default(size=size)


def overlay(image: np.ndarray, mask: np.ndarray, labelmap: LabelMap, alpha: float = ALPHA) -> np.ndarray:
    """RGB image with every foreground class blended in its colour and outlined; ignore pixels whitened."""
    out = image.astype(np.float32)
    colors = np.array(labelmap.palette(), np.float32)
    colors[IGNORE_INDEX] = IGNORE_COLOR
    fg = mask > 0
    out[fg] = out[fg] * (1 - alpha) + colors[mask[fg]] * alpha
    out = out.round().astype(np.uint8)
    for class_id in np.unique(mask):
        if class_id == 0 or class_id == IGNORE_INDEX:
            continue
        contours, _ = cv2.findContours((mask == class_id).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, (20, 20, 20), 3, lineType=cv2.LINE_AA)
        color = tuple(int(c) for c in labelmap.classes[int(class_id)].color)
        cv2.drawContours(out, contours, -1, color, 1, lineType=cv2.LINE_AA)
    return out


def _fit(draw: ImageDraw.ImageDraw, text: str, width: int, fnt: ImageFont.ImageFont) -> str:
    """Shorten from the left (keep the distinctive end of a frame_id) until it fits."""
    if draw.textlength(text, font=fnt) <= width:
        return text
    while len(text) > 1 and draw.textlength("…" + text, font=fnt) > width:
        text = text[1:]
    return "…" + text


def _legend(labelmap: LabelMap, class_ids: Sequence[int], width: int) -> Image.Image:
    """Swatch + name per class, wrapped over as many rows as needed."""
    fnt = font(14)
    entries = [(labelmap.classes[c].color, labelmap.classes[c].name) for c in class_ids if c != IGNORE_INDEX]
    if IGNORE_INDEX in class_ids:
        entries.append((IGNORE_COLOR, "ignore (255)"))
    if not entries:
        entries = [(None, "no labelled instrument pixels in these frames")]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    rows: list[list[tuple]] = [[]]
    x = 0
    for color, name in entries:
        w = 22 + int(probe.textlength(name, font=fnt)) + 18
        if x + w > width and rows[-1]:
            rows.append([])
            x = 0
        rows[-1].append((x, color, name))
        x += w
    img = Image.new("RGB", (width, 24 * len(rows) + 6), SHEET_BG)
    draw = ImageDraw.Draw(img)
    for r, row in enumerate(rows):
        y = 4 + r * 24
        for x, color, name in row:
            if color is not None:
                draw.rectangle([x, y + 2, x + 15, y + 17], fill=tuple(color), outline=(60, 60, 60))
            draw.text((x + (22 if color is not None else 0), y + 1), name, fill=TEXT, font=fnt)
    return img


def contact_sheet(thumbs: Sequence[Thumb], labelmap: LabelMap, title: str, columns: int = COLUMNS) -> Image.Image:
    """Grid of overlays with a caption per tile (frame_id · split), a title and a class legend."""
    tile_w = max(t.image.shape[1] for t in thumbs)
    cols = min(columns, len(thumbs))
    # At least two tiles wide: a one-frame sheet would otherwise squeeze title and legend into 320 px.
    width = PAD + max(cols, 2) * (tile_w + PAD)
    tiles = [Image.fromarray(overlay(t.image, t.mask, labelmap)) for t in thumbs]
    rows = [tiles[i : i + cols] for i in range(0, len(tiles), cols)]
    row_h = [max(t.height for t in row) + CAPTION_H for row in rows]
    present = sorted({int(c) for t in thumbs for c in np.unique(t.mask) if c != 0})
    legend = _legend(labelmap, present, width - 2 * PAD)
    title_h = 34
    height = title_h + sum(h + PAD for h in row_h) + legend.height + PAD
    sheet = Image.new("RGB", (width, height), SHEET_BG)
    draw = ImageDraw.Draw(sheet)
    draw.text((PAD, 8), title, fill=TEXT, font=font(18))
    small = font(13)
    y = title_h
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            thumb = thumbs[r * cols + c]
            x = PAD + c * (tile_w + PAD)
            sheet.paste(tile, (x, y))
            caption = _fit(draw, f"{thumb.frame_id} · {thumb.split}", tile_w - 4, small)
            color = SPLIT_TEXT.get(thumb.split, TEXT)  # same hues as the figures' split colours
            draw.text((x + 2, y + tile.height + 3), caption, fill=color, font=small)
        y += row_h[r] + PAD
    sheet.paste(legend, (PAD, y))
    return sheet


def write_contact_sheets(
    thumbs: dict[str, Thumb], labelmap: LabelMap, totals: dict[int, int], folder: Path
) -> dict[int, str]:
    """One PNG per activity that has frames; returns {activity index: file name relative to `folder`}."""
    from schemas.records import natural_key

    folder.mkdir(parents=True, exist_ok=True)
    written: dict[int, str] = {}
    for activity, name in enumerate(labelmap.activities):
        chosen = sorted((t for t in thumbs.values() if t.activity == activity), key=lambda t: natural_key(t.frame_id))
        if not chosen:
            continue
        title = f"{name} — {len(chosen)} of {totals.get(activity, len(chosen))} frames"
        file_name = f"{activity + 1:02d}_{re.sub(r'[^A-Za-z0-9_-]+', '_', name)}.png"
        contact_sheet(chosen, labelmap, title).save(folder / file_name, optimize=False, compress_level=3)
        written[activity] = file_name
    return written
