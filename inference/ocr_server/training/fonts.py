"""The fonts the synthetic lines are written in, grouped by family (one hand each).

Handwriting comes from Debian's font packages only (``scripts/install.sh`` installs them
with apt); printed families stay in the mix so printed essays and typed text do not get
worse. Train and validation are split by family, never by line: the validation CER is
measured on hands the model never saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FONT_ROOT = Path("/usr/share/fonts")

# Debian packages that hold the handwriting families below (installed by make install).
HANDWRITING_PACKAGES = (
    "fonts-dkg-handwriting",
    "fonts-breip",
    "fonts-femkeklaver",
    "fonts-rufscript",
    "fonts-sjfonts",
    "fonts-bwht",
    "fonts-dancingscript",
    "fonts-ecolier-court",
    "fonts-kaushanscript",
    "fonts-kristi",
    "fonts-tomsontalks",
    "fonts-comic-neue",
    "fonts-humor-sans",
    "fonts-cabinsketch",
)
PRINTED_PACKAGES = ("fonts-dejavu-core", "fonts-liberation2", "fonts-freefont-ttf")
# The corpus's prose (training/corpus.py).
TEXT_PACKAGES = ("fortunes",)


def apt_packages() -> list[str]:
    """What scripts/install.sh installs with apt for the training data."""
    return [*HANDWRITING_PACKAGES, *PRINTED_PACKAGES, *TEXT_PACKAGES]


@dataclass(frozen=True)
class Family:
    name: str  # also the folder its lines are written to
    files: tuple[str, ...]  # paths under FONT_ROOT
    handwriting: bool = True
    small_caps: bool = False  # lower case written as small capitals

    @property
    def mixable(self) -> bool:
        """Whether its letters may go into mixed hands, where a letter's size tells its
        case (synth.py)."""
        return self.handwriting and not self.small_caps

    def paths(self) -> list[Path]:
        return [FONT_ROOT / name for name in self.files if (FONT_ROOT / name).is_file()]


HANDWRITING = (
    Family("breip", ("truetype/breip/Breip.ttf", "truetype/breip/breipfont.ttf")),
    Family(
        "dkg",
        (
            "truetype/fifthhorseman/dkg.ttf",
            "truetype/fifthhorseman/dkgBd.ttf",
            "truetype/fifthhorseman/dkgIt.ttf",
            "truetype/fifthhorseman/dkgBI.ttf",
        ),
    ),
    Family(
        "because-we-learn", small_caps=True, files=("opentype/bwht/BecauseWeLearn-Regular.otf",)
    ),
    Family(
        "because-we-build", small_caps=True, files=("opentype/bwht/BecauseWeBuild-Regular.otf",)
    ),
    Family(
        "because-we-connect", small_caps=True, files=("opentype/bwht/BecauseWeConnect-Regular.otf",)
    ),
    Family(
        "because-we-create", small_caps=True, files=("opentype/bwht/BecauseWeCreate-Regular.otf",)
    ),
    Family(
        "because-we-mentor", small_caps=True, files=("opentype/bwht/BecauseWeMentor-Regular.otf",)
    ),
    Family(
        "because-we-organize",
        small_caps=True,
        files=("opentype/bwht/BecauseWeOrganize-Regular.otf",),
    ),
    Family("femkeklaver", ("truetype/femkeklaver/femkeklaver.ttf",)),
    Family("rufscript", ("truetype/rufscript/Rufscript010.ttf",)),
    Family("delphine", ("truetype/sjfonts/Delphine.ttf",)),
    Family("stevehand", ("truetype/sjfonts/SteveHand.ttf",)),
    Family(
        "dancing-script",
        (
            "opentype/dancingscript/DancingScript-Regular.otf",
            "opentype/dancingscript/DancingScript-Bold.otf",
        ),
    ),
    Family("ecolier", ("truetype/ecolier-court/Ecolier-court.ttf",)),
    Family("kaushan", ("opentype/kaushanscript/KaushanScript-Regular.otf",)),
    Family("kristi", ("truetype/kristi/Kristi.ttf",)),
    Family("tomson-talks", small_caps=True, files=("truetype/tomsontalks/TomsonTalks.ttf",)),
    Family(
        "comic-neue",
        (
            "opentype/comic-neue/ComicNeue-Regular.otf",
            "opentype/comic-neue/ComicNeue-Bold.otf",
            "opentype/comic-neue/ComicNeue-Italic.otf",
            "opentype/comic-neue/ComicNeue-Light.otf",
        ),
    ),
    Family("humor-sans", small_caps=True, files=("truetype/humor-sans/Humor-Sans.ttf",)),
    Family(
        "cabin-sketch",
        (
            "truetype/cabinsketch/CabinSketch-Regular.ttf",
            "truetype/cabinsketch/CabinSketch-Bold.ttf",
        ),
    ),
)
PRINTED = (
    Family(
        "dejavu",
        (
            "truetype/dejavu/DejaVuSans.ttf",
            "truetype/dejavu/DejaVuSerif.ttf",
            "truetype/dejavu/DejaVuSans-Bold.ttf",
        ),
        handwriting=False,
    ),
    Family(
        "liberation",
        (
            "truetype/liberation2/LiberationSerif-Regular.ttf",
            "truetype/liberation2/LiberationSans-Regular.ttf",
            "truetype/liberation2/LiberationMono-Regular.ttf",
        ),
        handwriting=False,
    ),
    Family(
        "freefont",
        ("truetype/freefont/FreeSerif.ttf", "truetype/freefont/FreeSans.ttf"),
        handwriting=False,
    ),
)
# The hands held out for validation: the three that read worst with the shipped CRNN
# (page CER 0.19, 0.37 and 0.59). Printed "dejavu" is validated too (it must not worsen)
# and is also trained on, being the typed-text case.
VALIDATION = ("breip", "dkg", "because-we-learn")
FAMILIES = {family.name: family for family in (*HANDWRITING, *PRINTED)}


def family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown font family {name!r}; known: {sorted(FAMILIES)}") from None


def installed(names: list[str] | tuple[str, ...]) -> list[Family]:
    """The named families that have at least one font file on this machine."""
    return [f for f in (family(n) for n in names) if f.paths()]


def missing_packages() -> list[str]:
    """Handwriting and printed families with no font file here (install hint)."""
    return [f.name for f in (*HANDWRITING, *PRINTED) if not f.paths()]
