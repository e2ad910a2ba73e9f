"""Activity and segmentation label maps of the three EndoARSS datasets (docs/formats.md §2.2, §5).

Ids are part of the contract: ClassLabel index of an activity = its official folder id - 1;
segmentation id = pixel value in the stored masks (0 = background, 255 = ignore).
MTLEndovis-Gen deliberately reuses the MTLEndovis ids so a model trained on one evaluates on the
other without remapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field

IGNORE_INDEX = 255
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class SegClass:
    id: int
    name: str
    color: RGB

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "color": list(self.color)}


@dataclass(frozen=True)
class LabelMap:
    """Activities (ClassLabel order) and segmentation classes (id order, background first)."""

    dataset: str
    activities: tuple[str, ...]
    classes: tuple[SegClass, ...]
    pretty_name: str = ""
    _by_name: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        ids = [c.id for c in self.classes]
        if ids != list(range(len(ids))):
            raise ValueError(f"{self.dataset}: segmentation ids must be 0..N-1 in order, got {ids}")
        if len(set(self.activities)) != len(self.activities):
            raise ValueError(f"{self.dataset}: duplicate activity names {self.activities}")
        self._by_name.update({name: i for i, name in enumerate(self.activities)})

    @property
    def num_activities(self) -> int:
        return len(self.activities)

    @property
    def num_classes(self) -> int:
        """Number of segmentation classes including background."""
        return len(self.classes)

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def max_class_id(self) -> int:
        return len(self.classes) - 1

    def activity_index(self, name: str) -> int:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"unknown activity {name!r} for {self.dataset}; known: {list(self.activities)}") from None

    def palette(self) -> list[RGB]:
        """Colour per class id, 256 entries long (unused ids black, ignore id white) for PIL/overlays."""
        colors: list[RGB] = [(0, 0, 0)] * 256
        for c in self.classes:
            colors[c.id] = c.color
        colors[IGNORE_INDEX] = (255, 255, 255)
        return colors

    def with_class_names(self, names: list[str]) -> LabelMap:
        """A copy whose foreground classes 1..N are renamed (MTLESD takes names from the COCO file)."""
        if len(names) != len(self.classes) - 1:
            raise ValueError(f"{self.dataset}: expected {len(self.classes) - 1} class names, got {len(names)}")
        classes = (self.classes[0],) + tuple(
            SegClass(c.id, n, c.color) for c, n in zip(self.classes[1:], names, strict=True)
        )
        return LabelMap(self.dataset, self.activities, classes, self.pretty_name)

    def to_dict(self) -> dict:
        return {"activities": list(self.activities), "classes": [c.to_dict() for c in self.classes]}

    @classmethod
    def from_dict(cls, dataset: str, data: dict, pretty_name: str = "") -> LabelMap:
        classes = tuple(SegClass(int(c["id"]), str(c["name"]), tuple(c["color"])) for c in data["classes"])
        return cls(dataset, tuple(data["activities"]), classes, pretty_name)


# ISINet 2018 instrument types (docs/formats.md §2.2); names are exact, colours are for overlays only.
# FORMATS' suggested colours had three near-identical greens (ids 1, 3, 5); 3 and 5 are changed so
# overlays stay readable.
ENDOVIS_CLASSES = (
    SegClass(0, "background", (0, 0, 0)),
    SegClass(1, "Bipolar Forceps", (0, 255, 0)),
    SegClass(2, "Prograsp Forceps", (0, 255, 255)),
    SegClass(3, "Large Needle Driver", (255, 0, 255)),
    SegClass(4, "Monopolar Curved Scissors", (255, 55, 0)),
    SegClass(5, "Ultrasound Probe", (0, 90, 255)),
    SegClass(6, "Suction Instrument", (123, 15, 175)),
    SegClass(7, "Clip Applier", (255, 255, 125)),
)

# docs/formats.md §5.1: index = official folder id - 1 (alphabetical, as in the paper).
ENDOVIS_ACTIVITIES = (
    "cauterization",
    "clipping",
    "cutting",
    "grasping",
    "idle",
    "looping",
    "manipulation",
    "retraction",
    "stapling",
    "suction",
    "suturing",
    "ultrasound_sensing",
)

# docs/formats.md §4.2 / §5.3. Class names come from the user's COCO file; these are the fixture defaults.
ESD_PHASES = (
    "marking",
    "injection",
    "circumferential_incision",
    "subsidized_injection",
    "installation_debugging",
    "submucosal_dissection",
)
ESD_ACTIVITIES = ("marking", "injection", "submucosal_dissection")
ESD_CLASSES = (
    SegClass(0, "background", (0, 0, 0)),
    SegClass(1, "esd_class_1", (230, 25, 75)),
    SegClass(2, "esd_class_2", (60, 180, 75)),
    SegClass(3, "esd_class_3", (255, 225, 25)),
    SegClass(4, "esd_class_4", (0, 130, 200)),
    SegClass(5, "esd_class_5", (245, 130, 48)),
    SegClass(6, "esd_class_6", (145, 30, 180)),
)

MTLENDOVIS = LabelMap("mtlendovis", ENDOVIS_ACTIVITIES, ENDOVIS_CLASSES, "MTLEndovis")
MTLENDOVIS_GEN = LabelMap("mtlendovis-gen", ENDOVIS_ACTIVITIES, ENDOVIS_CLASSES, "MTLEndovis-Gen")
MTLESD = LabelMap("mtlesd", ESD_ACTIVITIES, ESD_CLASSES, "MTLESD")

LABEL_MAPS: dict[str, LabelMap] = {m.dataset: m for m in (MTLENDOVIS, MTLENDOVIS_GEN, MTLESD)}


def get_labelmap(dataset: str) -> LabelMap:
    try:
        return LABEL_MAPS[dataset]
    except KeyError:
        raise KeyError(f"unknown dataset {dataset!r}; known: {sorted(LABEL_MAPS)}") from None
