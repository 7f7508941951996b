"""The stages a title goes through, in order: the one list that the assets, the jobs, the tables'
`*_s` timing columns and the CLI's summary are made from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    """One stage of a title. `version`: bump it when what the stage writes changes, and only that stage and
    those below it go stale. `adaptation`: run only for a title registered adapted (`vcn run --adapt`).
    `gpu`: its network runs on a GPU where there is one, so it queues for the `gpu` pool."""

    name: str
    version: str = "0.1.0"
    adaptation: bool = False
    gpu: bool = False


STAGES: tuple[Stage, ...] = (
    Stage("frames", version="0.2.0"),  # 0.2: a stride never steps over a whole shot
    Stage("face_detections", version="0.2.0", gpu=True),  # 0.2: the faces artifact keeps each face's context
    Stage("face_tracks"),
    Stage("face_embeddings", gpu=True),
    Stage("adapted_model", adaptation=True, gpu=True),
    Stage("adapted_embeddings", adaptation=True, gpu=True),
    Stage("face_clusters", version="0.3.0"),  # 0.3: the default stops at the title's pairs of different people
)
STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)
# What a season goes through once its episodes are clustered: their identities linked into the season's cast.
SEASON_CAST = Stage("season_cast", version="0.3.0")  # 0.3: the default stops at the season's pairs seen together


def stage(name: str) -> Stage:
    """The stage called `name` (a title's, or the season's); KeyError for another name."""
    for s in (*STAGES, SEASON_CAST):
        if s.name == name:
            return s
    raise KeyError(f"no stage {name!r}; stages: {', '.join((*STAGE_NAMES, SEASON_CAST.name))}")


def stages_for(adapt: bool) -> tuple[Stage, ...]:
    """The stages of a title: adaptation's only when the title is registered adapted."""
    return tuple(s for s in STAGES if adapt or not s.adaptation)
