"""The labeling interface of a review project, generated from the dataset's label map.

Names below are the contract between export and import: brush regions come back with
`from_name=MASK_FROM`, the activity with `from_name=ACTIVITY_FROM`; brush label values are the
segmentation class names and choice values the activity names, exactly as in the label map.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from schemas.labelmaps import LabelMap

IMAGE_NAME = "image"
MASK_FROM = "mask"
ACTIVITY_FROM = "activity"


def hex_color(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def label_config(labelmap: LabelMap) -> str:
    """Image + one BrushLabels (every class but background, in its colour) + single-choice activity.

    `$image` is the only data variable on purpose: Label Studio parses uploaded image files against
    the config and refuses direct file upload when it has more than one data key. frame_id, the
    disagreement tag and rank still live in task data, i.e. in the data manager's columns.
    Background is "no brush", so it never appears as a label.
    """
    labels = "\n".join(
        f"    <Label value={quoteattr(c.name)} background={quoteattr(hex_color(c.color))}/>"
        for c in labelmap.classes[1:]
    )
    choices = "\n".join(f"    <Choice value={quoteattr(name)}/>" for name in labelmap.activities)
    return f"""<View>
  <Image name="{IMAGE_NAME}" value="$image" zoom="true" zoomControl="true"/>
  <BrushLabels name="{MASK_FROM}" toName="{IMAGE_NAME}">
{labels}
  </BrushLabels>
  <Choices name="{ACTIVITY_FROM}" toName="{IMAGE_NAME}" choice="single" showInline="true" required="true">
{choices}
  </Choices>
</View>
"""
