"""App names: Heroku's rule, and random ``adjective-noun-1234`` names."""

from __future__ import annotations

import re
import secrets

from cove.domain.errors import InvalidParams

APP_NAME = re.compile(r"^[a-z][a-z0-9-]{1,28}[a-z0-9]$")

_ADJECTIVES = (
    "amber",
    "ancient",
    "autumn",
    "billowing",
    "bold",
    "brave",
    "calm",
    "cool",
    "crimson",
    "damp",
    "dawn",
    "deep",
    "divine",
    "dry",
    "dusty",
    "eager",
    "fathomless",
    "floral",
    "fragrant",
    "frosty",
    "gentle",
    "glacial",
    "golden",
    "hidden",
    "icy",
    "lively",
    "lucky",
    "misty",
    "morning",
    "nameless",
    "noble",
    "obscure",
    "patient",
    "polished",
    "proud",
    "quiet",
    "rapid",
    "restless",
    "rough",
    "shy",
    "silent",
    "snowy",
    "solitary",
    "sparkling",
    "still",
    "sunny",
    "swift",
    "twilight",
    "wandering",
    "young",
)
_NOUNS = (
    "bay",
    "brook",
    "cliff",
    "cloud",
    "cove",
    "dawn",
    "dew",
    "dune",
    "field",
    "fire",
    "flower",
    "fog",
    "forest",
    "frost",
    "glade",
    "harbor",
    "haze",
    "hill",
    "lake",
    "leaf",
    "meadow",
    "moon",
    "mountain",
    "ocean",
    "paper",
    "pine",
    "pond",
    "rain",
    "reef",
    "river",
    "sea",
    "shadow",
    "shore",
    "sky",
    "smoke",
    "snow",
    "sound",
    "star",
    "stream",
    "sun",
    "surf",
    "thunder",
    "tide",
    "tree",
    "valley",
    "violet",
    "water",
    "wave",
    "wind",
    "wood",
)


def validate_app_name(name: str) -> str:
    if not APP_NAME.match(name):
        raise InvalidParams(
            f"Name {name!r} is invalid: it must start with a letter, contain only lowercase "
            "letters, digits and dashes, end with a letter or digit, and be 3 to 30 "
            "characters long."
        )
    return name


def random_app_name() -> str:
    adjective = secrets.choice(_ADJECTIVES)
    noun = secrets.choice(_NOUNS)
    return f"{adjective}-{noun}-{secrets.randbelow(9000) + 1000}"
