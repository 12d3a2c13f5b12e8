"""Score blind viewers' answers against the benchmark photos with one fixed, written rubric.

A viewer who never saw the photos writes, per sketch, what it depicts ("subject") and the objects
they recognise (see docs/offline-objective.md, blind check). Scoring by hand drifted between rounds
of the check, so the rubric is here, per photo, as words that count:

- main subject, strict: the subject phrase names the thing itself and does not begin "unclear";
- main subject, lenient: the subject phrase names it or its kind anywhere, hedged or not;
- ROI objects: each ROI's object, or its kind, named in the subject or the objects list.

    python benchmarks/blind_score.py KEY.json ANSWERS.json [ANSWERS.json ...]

KEY.json maps each answers file's name without ".json" to its sketches' photos
({"final_G": {"sketch_01.png": "coffee", ...}, ...}).
Last line: one JSON object per answers file.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Rubric:
    """Words (regular expressions) that name a photo's subject, its kind, and each ROI's object."""

    strict: str
    lenient: str
    rois: tuple[str, str]


RUBRIC = {
    "street_cars_basilica": Rubric(r"building|fa[cç]ade|church|basilica|house", r"ruin|wall|arch", (r"\bcars?\b|vehicle", r"arch")),
    "house_tree_lawn": Rubric(r"house|cottage|home|farm", r"building|cabin|shed", (r"window", r"window|shutter")),
    "room_interior_table": Rubric(
        r"room|table|drum", r"glass|vase|bottle|jug|counter|still life|kitchen", (r"bottle|glass|vase|jug", r"grinder|box|container")
    ),
    "drumkit_guitar_clutter": Rubric(r"drum|guitar", r"instrument|music", (r"guitar|bass|cello", r"drum")),
    "people_mariachi": Rubric(r"band|musician|trumpet|mariachi", r"people|person|man|men", (r"face|head", r"trumpet|horn|player|musician")),
    "lemurs_vegetation": Rubric(r"lemur", r"animal|dog|cat|squirrel|monkey|raccoon|fox", (r"head|face", r"tail")),
    "gorilla_vegetation": Rubric(r"gorilla|\bape\b|monkey|chimp", r"animal|face|lion|dog|bear", (r"face|head", r"lea(f|ves)|plant|foliage|bush")),
    "building_cathedral_trees": Rubric(r"church|cathedral|dome|mosque|castle|palace", r"building|temple|tower", (r"dome", r"portal|door|arch|gate|entrance")),
    "festival_stalls_night": Rubric(r"festival|stall|market|lantern|fair", r"street scene|lights", (r"stall|crowd|booth", r"drum")),
    "pagoda_trees_sky": Rubric(r"pagoda|temple|tower", r"building|roof", (r"roof|top|finial", r"tier|balcon|eave")),
    "garage_motorcycle": Rubric(r"motorcycle|motorbike|scooter", r"vehicle|bicycle|bike|machine", (r"engine|motor", r"headlight|lamp|light")),
    "coffee": Rubric(r"\b(tea)?cup\b|mug|coffee", r"bowl|pot|jar", (r"handle|spoon", r"rim|cup")),
    "chelsea": Rubric(r"\bcat\b|kitten", r"animal|face", (r"eye", r"nose|mouth")),
    "astronaut": Rubric(r"astronaut", r"person|man|woman|child|people|portrait", (r"face|head", r"helmet")),
    "rocket": Rubric(r"rocket|launch", r"tower|pad", (r"rocket", r"tower")),
    "grace_hopper": Rubric(r"woman|uniform|officer", r"man|person|portrait", (r"face", r"\bcap\b|\bhat\b")),
    "ascent": Rubric(r"stair|climb|tower", r"people|person|building|scaffold", (r"people|person|climber|figure", r"slat|step|stair")),
}


def score(answers: dict[str, Any], key: dict[str, str]) -> dict[str, Any]:
    """Hits per photo and totals (strict, lenient, ROI objects) for one viewer's answers."""
    per_photo = {}
    for sketch, answer in answers.items():
        photo = key[sketch]
        rubric = RUBRIC[photo]
        subject = answer["subject"].lower()
        named = (subject + " " + " ".join(answer.get("objects", []))).lower()
        strict = bool(re.search(rubric.strict, subject)) and not subject.startswith("unclear")
        lenient = bool(re.search(rubric.strict, subject) or re.search(rubric.lenient, subject))
        rois = sum(bool(re.search(pattern, named)) for pattern in rubric.rois)
        per_photo[photo] = {"strict": strict, "lenient": lenient, "roi_objects": rois, "clean": answer.get("clean") == "yes"}
    return {
        "photos": per_photo,
        "strict": sum(p["strict"] for p in per_photo.values()),
        "lenient": sum(p["lenient"] for p in per_photo.values()),
        "roi_objects": sum(p["roi_objects"] for p in per_photo.values()),
        "clean": sum(p["clean"] for p in per_photo.values()),
        "sketches": len(per_photo),
    }


def main() -> None:
    key_file, *answer_files = sys.argv[1:]
    keys = json.loads(Path(key_file).read_text())
    report = {}
    for path in map(Path, answer_files):
        result = score(json.loads(path.read_text()), keys[path.stem])
        report[path.stem] = result
        totals = " ".join(f"{name} {result[name]:2}" for name in ("strict", "lenient", "roi_objects", "clean"))
        print(f"{path.stem:12} {totals} of {result['sketches']}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
