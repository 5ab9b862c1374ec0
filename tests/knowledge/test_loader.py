"""Knowledge files: a bad file is refused whole with the file, line and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.loader import (
    SAMPLE_DIR,
    ContentError,
    dump_catalogue,
    dump_knowledge,
    load_catalogue,
    load_knowledge,
)

GOOD = """\
synonyms:
  - [garbage, trash, rubbish]
entries:
  - id: trash-day
    question: When is trash day?
    alternatives: [garbage pickup day]
    answer: "Your **hauler** picks up weekly."
    tags: [trash]
    links:
      - {title: Recology, url: "https://example.org"}
    service: null
  - id: hours
    question: When is 311 open?
    answer: Always.
    active: false
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kb.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_loads_and_round_trips(tmp_path: Path) -> None:
    kb = load_knowledge(write(tmp_path, GOOD))
    assert [e.id for e in kb.entries] == ["trash-day", "hours"]
    assert kb.entries[1].active is False
    assert kb.synonyms == (("garbage", "trash", "rubbish"),)
    out = tmp_path / "out.yaml"
    dump_knowledge(kb, out)
    assert load_knowledge(out) == kb


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (GOOD.replace("id: hours", "id: trash-day"), 12, "used twice (first on line 4)"),
        (GOOD.replace("id: hours", "id: Hours Of 311"), 12, "must be a slug"),
        (GOOD.replace("    answer: Always.\n", ""), 12, "'answer' is missing"),
        (GOOD.replace('url: "https://example.org"', "url: javascript:alert(1)"), 10, "must start with"),
        (GOOD.replace("active: false", "active: maybe"), 12, "'active' must be true or false"),
        (GOOD.replace("alternatives: [garbage pickup day]", "alternatives: {a: b}"), 4, "list of texts"),
        (GOOD.replace("answer: Always.", "answer: " + "x" * 1300), 12, "at most 1200"),
        (GOOD.replace("  - [garbage, trash, rubbish]", "  - [garbage, trash: [x]"), 3, "not valid YAML"),
        ("- just\n- a list\n", 1, "expected a mapping"),
    ],
)
def test_a_bad_file_names_file_line_and_reason(tmp_path: Path, text: str, line: int, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ContentError) as caught:
        load_knowledge(path)
    assert caught.value.line == line, str(caught.value)
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{path}:{line}: ")


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(ContentError, match="file not found"):
        load_knowledge(tmp_path / "nope.yaml")
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ContentError, match="not UTF-8"):
        load_knowledge(binary)


def test_the_bundled_sample_city_loads() -> None:
    kb = load_knowledge(SAMPLE_DIR / "faq.yaml")
    catalogue = load_catalogue(SAMPLE_DIR / "services.yaml")
    assert len(kb.entries) >= 60 and len(kb.synonyms) >= 20
    assert len(catalogue.services) >= 21
    codes = {s.code for s in catalogue.services}
    assert all(e.service in codes for e in kb.entries if e.service)
    assert all(len(e.answer) <= 600 for e in kb.entries)


SERVICES = """\
departments:
  - {name: Public Works}
services:
  - code: pothole
    name: Pothole
    department: Public Works
    typical_days: 5
    questions:
      - {code: size, type: singlevaluelist, required: false, values: [small, large]}
      - {code: offensive, type: singlevaluelist, required: true, values: [yes, no]}
"""


def test_a_catalogue_in_the_eval_form_loads(tmp_path: Path) -> None:
    path = write(tmp_path, SERVICES)
    service = load_catalogue(path).services[0]
    assert [a.code for a in service.attributes] == ["size", "offensive"]
    assert [v.key for v in service.attributes[1].values] == ["yes", "no"]  # not True/False


def test_list_values_keep_their_aliases_through_export_and_import(tmp_path: Path) -> None:
    text = SERVICES.replace(
        "values: [small, large]", "values: [{key: big, name: large, aliases: [huge, crater]}]"
    )
    catalogue = load_catalogue(write(tmp_path, text))
    (value,) = catalogue.services[0].attributes[0].values
    assert value.aliases == ("huge", "crater")
    out = tmp_path / "out.yaml"
    dump_catalogue(catalogue, out)
    assert load_catalogue(out) == catalogue


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (("department: Public Works\n    typical", "department: Parks\n    typical"), "not in the file's"),
        (("code: size", "code: offensive"), "used twice"),
        (("type: singlevaluelist, required: false", "type: colour, required: false"), "datatype 'colour'"),
        (("required: true", "required: maybe"), "'required' must be true or false"),
        (("values: [small, large]", "values: [small, small]"), "same value key twice"),
        (("values: [small, large]", "values: []"), "has no values"),
        (("code: size", "code: 'si ze'"), "may only use letters"),
        (("typical_days: 5", "typical_days: soon"), "whole number of days"),
        (("values: [small, large]", "values: [{key: small, name: small, aliases: tiny}]"), "list of texts"),
        (
            ("values: [small, large]", "values: [{key: s, name: s, aliases: [" + "x" * 101 + "]}]"),
            "longer than 100",
        ),
    ],
)
def test_a_bad_catalogue_is_refused_with_the_reason(
    tmp_path: Path, change: tuple[str, str], reason: str
) -> None:
    path = write(tmp_path, SERVICES.replace(*change))
    with pytest.raises(ContentError, match=reason):
        load_catalogue(path)


def test_load_content_tells_the_files_apart(tmp_path: Path) -> None:
    from knowledge.loader import load_content

    assert load_content(write(tmp_path, SERVICES)).knowledge is None
    both = load_content(SAMPLE_DIR)
    assert both.knowledge is not None and both.catalogue is not None
    with pytest.raises(ContentError, match="expected 'entries'"):
        load_content(write(tmp_path, "x: 1\n"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ContentError, match=r"no faq\.yaml, services\.yaml or training\.yaml"):
        load_content(empty)


TRAINING = """\
intents:
  status:
    - "any news on 10234?"
    - "did anyone come out about the light I reported"
  smalltalk.bye:
    - "cya"
reports:
  pothole:
    - "the road is crumbling at the corner"
emergencies:
  fire:
    advice: "Get everyone out."
    examples:
      - "the garage next door is burning"
not_emergency:
  - "the fire hydrant is leaking"
past_or_negated:
  - "there was a fire last month"
"""


def test_training_examples_are_read_by_label(tmp_path: Path) -> None:
    from knowledge.loader import load_training

    data = load_training(write(tmp_path, TRAINING), services={"pothole"})
    assert data.intents["status"][0] == "any news on 10234?"
    assert data.services["pothole"] == ("the road is crumbling at the corner",)
    assert data.emergencies["fire"] and data.advice["fire"] == "Get everyone out."
    assert ("report:pothole", "the road is crumbling at the corner") in set(data.rows())


@pytest.mark.parametrize(
    ("change", "line", "reason"),
    [
        (("smalltalk.bye:", "smalltalk.farewell:"), 2, "unknown intent 'smalltalk.farewell'"),
        (('    - "cya"', "    - 42.0\n    - [a, b]"), 7, "each example must be a non-empty text"),
        (('    - "cya"', '    - ""'), 6, "each example must be a non-empty text"),
        (("  pothole:", "  pot-hole:"), 8, "service 'pot-hole' is not in the service catalogue"),
        (('    advice: "Get everyone out."\n', ""), 12, "'advice' is missing"),
    ],
)
def test_a_bad_training_file_is_refused_with_file_line_and_reason(
    tmp_path: Path, change: tuple[str, str], line: int, reason: str
) -> None:
    from knowledge.loader import load_training

    path = write(tmp_path, TRAINING.replace(*change))
    with pytest.raises(ContentError) as caught:
        load_training(path, services={"pothole"})
    assert caught.value.path == str(path) and caught.value.line == line
    assert reason in caught.value.reason


def test_a_training_file_round_trips(tmp_path: Path) -> None:
    from knowledge.loader import SAMPLE_DIR, TRAINING_FILE, dump_training, load_training

    sample = load_training(SAMPLE_DIR / TRAINING_FILE)
    dump_training(sample, tmp_path / "out.yaml")
    assert load_training(tmp_path / "out.yaml") == sample
    assert len(sample.intents) == 10 and len(sample.services) >= 20 and len(sample.emergencies) >= 10
