"""Threat taxonomy, matcher and severity."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from streams.domain.model import REQUIRED_THREAT_TYPES, SEVERITY_LEVELS, Article, ThreatResult
from streams.domain.threats import TaxonomyError, ThreatClassifier, ThreatTaxonomy, matcher
from streams.domain.threats.casualties import PATTERNS, find_casualties

pytestmark = pytest.mark.unit

DATA = Path(__file__).resolve().parents[1] / "data"
REQUIRED = REQUIRED_THREAT_TYPES

POSITIVES: dict[str, tuple[str, str]] = {
    "nuclear": (
        "North Korea threatens nuclear test",
        (
            "PYONGYANG, May 2 (UPI) -- North Korea could conduct its seventh nuclear test within "
            "weeks, officials said, as satellite imagery showed activity at the Punggye-ri site. "
            "Leader Kim Jong Un has vowed to expand the country's nuclear arsenal."
        ),
    ),
    "missile": (
        "North Korea fires ballistic missile into East Sea",
        (
            "SEOUL, March 3 (UPI) -- North Korea fired a short-range ballistic missile off its east "
            "coast on Monday, South Korea's Joint Chiefs of Staff said. The missile flew about 600 "
            "km before landing in the sea."
        ),
    ),
    "military_exercise": (
        "China stages military drills around Taiwan",
        (
            "BEIJING (AP) -- China's military launched large-scale exercises around Taiwan on "
            "Monday, deploying warships and fighter jets in what it called a stern warning. The "
            "People's Liberation Army said the drills would test joint combat readiness."
        ),
    ),
    "armed_conflict": (
        "Heavy fighting rages in eastern Ukraine",
        (
            "KYIV (Reuters) -- Russian and Ukrainian forces were locked in heavy fighting near "
            "Pokrovsk on Tuesday, with Russian troops shelling frontline towns. Ukraine's general "
            "staff said its forces repelled 40 assaults along the front line."
        ),
    ),
    "airstrike": (
        "Israeli airstrike kills 40 in Gaza",
        (
            "GAZA CITY (AP) -- An Israeli airstrike on a crowded shelter in central Gaza killed at "
            "least 40 people, including women and children, health officials said on Thursday."
        ),
    ),
    "terrorism": (
        "Suicide bomber kills 12 at Kabul mosque",
        (
            "KABUL (Reuters) -- A suicide bomber blew himself up inside a mosque in Kabul during "
            "Friday prayers, killing at least 12 worshippers, police said. The Islamic State group "
            "claimed responsibility for the attack."
        ),
    ),
    "cyber": (
        "Ransomware attack cripples hospital network",
        (
            "LONDON (Reuters) -- A ransomware attack has disrupted IT systems at several London "
            "hospitals, forcing them to cancel operations. Officials blamed a Russian-speaking "
            "hacker group for the cyberattack."
        ),
    ),
    "sanctions": (
        "U.S. imposes new sanctions on Iranian oil network",
        (
            "WASHINGTON (Reuters) -- The U.S. Treasury Department on Thursday imposed sanctions on a "
            "network of companies and tankers accused of shipping Iranian oil to China, in the "
            "latest move to increase economic pressure on Tehran."
        ),
    ),
    "diplomatic_tension": (
        "Poland expels Russian diplomats over sabotage plot",
        (
            "WARSAW (Reuters) -- Poland expelled three Russian diplomats and summoned the ambassador "
            "on Wednesday after accusing Moscow of orchestrating a sabotage campaign, deepening a "
            "diplomatic row between the neighbours."
        ),
    ),
    "civil_unrest": (
        "Police fire tear gas as protesters clash in Nairobi",
        (
            "NAIROBI (AP) -- Kenyan police fired tear gas and water cannon at thousands of "
            "protesters in Nairobi on Tuesday as anti-government demonstrations over tax increases "
            "turned violent."
        ),
    ),
    "coup": (
        "Soldiers seize power in Niger coup",
        (
            "NIAMEY (Reuters) -- Mutinous soldiers in Niger said on state television they had seized "
            "power and detained President Mohamed Bazoum, in the latest military coup in West Africa."
        ),
    ),
    "maritime_incident": (
        "Chinese coast guard fires water cannon at Philippine vessel",
        (
            "MANILA (AP) -- A Chinese coast guard ship fired a water cannon at a Philippine supply "
            "vessel near Second Thomas Shoal in the South China Sea on Saturday, the Philippine "
            "military said, and another Chinese ship rammed a Philippine boat."
        ),
    ),
}
HARD_NEGATIVES: list[tuple[str, str]] = [
    (
        "Iran and U.S. to resume nuclear talks in Oman",
        (
            "MUSCAT (Reuters) -- Iranian and U.S. negotiators will hold a new round of nuclear talks "
            "in Oman next week, officials said, as diplomats pursue a deal on Tehran's programme."
        ),
    ),
    (
        "Japan approves restart of nuclear power plant",
        (
            "TOKYO (Reuters) -- Japan's nuclear regulator approved the restart of a nuclear power "
            "plant, as the country seeks more nuclear energy to cut emissions."
        ),
    ),
    (
        "Striker's late attack seals derby win",
        (
            "Manchester City's striker led a blistering attack in the second half as City won the "
            "derby 3-1 to stay in the battle for the title. The coach praised the blitz after the "
            "match; United fired their coach last month. The Premier League leaders scored twice."
        ),
    ),
    (
        "Curry's shot lifts Warriors",
        (
            "Stephen Curry hit a late three-point shot as the Warriors beat the Lakers in the NBA on "
            "Sunday, and the coach said the team battled hard all season."
        ),
    ),
    (
        "Sci-fi epic bombs at the box office",
        (
            "The big-budget film bombed at the box office over the weekend, despite an explosive "
            "performance by its lead actor and a killer soundtrack. Critics said the film's missile "
            "sequence was the highlight of the movie."
        ),
    ),
    (
        "Retailers brace for Cyber Monday rush",
        (
            "NEW YORK (Reuters) -- Retailers expect record Cyber Monday sales as a price war among "
            "online sellers intensifies, analysts said."
        ),
    ),
    (
        "Wildfire forces evacuations in California",
        (
            "LOS ANGELES (AP) -- A fast-moving wildfire forced thousands to evacuate as firefighters "
            "battled the blaze in dry, windy conditions. A house fire nearby was also contained."
        ),
    ),
    (
        "Oil firm resumes drilling in North Sea",
        (
            "ABERDEEN (Reuters) -- The oil company resumed drilling at its offshore field after a "
            "fire drill and an earthquake drill were held at the onshore facility."
        ),
    ),
    (
        "Startup pulls off a marketing coup",
        "The startup scored a marketing coup by signing the pop star for its new campaign, analysts said.",
    ),
    (
        "FIFA sanctions club over racist chants",
        (
            "ZURICH (AP) -- FIFA's disciplinary committee sanctioned the club and fined it after "
            "fans chanted racist abuse during the league match."
        ),
    ),
    (
        "Japan marks 80 years since atomic bombing of Hiroshima",
        (
            "HIROSHIMA (AP) -- Japan marked 80 years since the atomic bombing of Hiroshima on "
            "Wednesday with a memorial ceremony attended by survivors."
        ),
    ),
    (
        "Weather: bomb cyclone to hit East Coast",
        (
            "A bomb cyclone will bring heavy snow and strong winds to the East Coast this weekend, "
            "forecasters said."
        ),
    ),
    (
        "Scientists discover new exoplanet",
        (
            "Astronomers using the James Webb telescope have found a rocky planet that may have "
            "water, a study said."
        ),
    ),
    (
        "Senate passes budget bill",
        (
            "WASHINGTON (AP) -- The Senate passed a budget bill on Tuesday after Democrats attacked "
            "the plan and Republicans warned of tensions within the coalition. The vote was 51-49."
        ),
    ),
    (
        "Company unveils killer app",
        (
            "The company unveiled what it calls a killer app for productivity, in a move analysts "
            "described as a coup for the firm."
        ),
    ),
    (
        "Teams battle for the title",
        (
            "The two teams will battle for the title in the final on Sunday, with the coach saying "
            "the squad is ready for the match at the stadium."
        ),
    ),
]


@pytest.fixture(scope="module")
def tc() -> ThreatClassifier:
    return ThreatClassifier.default()


def classify(tc: ThreatClassifier, title: str, body: str = "") -> ThreatResult:
    return tc.classify(Article(id="t", title=title, body=body))


def types_of(tc: ThreatClassifier, title: str, body: str = "") -> set[str]:
    return {t.type for t in classify(tc, title, body).threats}


def level_index(level: str) -> int:
    return [str(x) for x in SEVERITY_LEVELS].index(level)


def test_seed_upi_article(tc: ThreatClassifier) -> None:
    raw = json.loads((DATA / "seed_upi.json").read_text())
    article = Article(id=raw["id"], title=raw["title"], body=raw["body"])
    result = tc.classify(article)
    assert {"military_exercise", "missile", "nuclear"} <= {t.type for t in result.threats}
    assert level_index(result.severity.level) >= level_index("high")
    assert result.taxonomy_version == tc.taxonomy.version
    scores = [t.score for t in result.threats]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("expected", sorted(POSITIVES))
def test_positive_per_type(tc: ThreatClassifier, expected: str) -> None:
    title, body = POSITIVES[expected]
    result = classify(tc, title, body)
    assert result.threats and result.threats[0].type == expected, [t.type for t in result.threats]
    assert result.severity.level != "none"


@pytest.mark.parametrize(("title", "body"), HARD_NEGATIVES, ids=[t for t, _ in HARD_NEGATIVES])
def test_hard_negatives_raise_no_threat(tc: ThreatClassifier, title: str, body: str) -> None:
    result = classify(tc, title, body)
    assert result.threats == ()
    assert result.severity.level == "none" and result.severity.score == 0.0


def test_labour_strike_is_civil_unrest_not_airstrike(tc: ThreatClassifier) -> None:
    found = types_of(
        tc,
        "Rail workers strike over pay",
        "LONDON (Reuters) -- Rail workers walked out on Monday in a strike over pay, with the union warning "
        "of further action.",
    )
    assert "airstrike" not in found
    assert found <= {"civil_unrest"}


def test_nuclear_talks_are_not_a_nuclear_threat(tc: ThreatClassifier) -> None:
    found = types_of(
        tc,
        "North Korea rejects denuclearization talks",
        "SEOUL (UPI) -- North Korea rejected calls for denuclearization talks with Washington on Monday.",
    )
    assert "nuclear" not in found


def test_missile_defense_talks_weaker_than_missile_launch(tc: ThreatClassifier) -> None:
    talks = classify(
        tc, "Allies hold missile defense talks", "Officials met for missile defense talks in Tokyo."
    )
    launch = classify(
        tc, "North Korea fires missile", "North Korea fired a missile into the sea, Seoul said."
    )
    talk_score = max((t.score for t in talks.threats if t.type == "missile"), default=0.0)
    launch_score = max(t.score for t in launch.threats if t.type == "missile")
    assert talk_score < launch_score


def test_drill_needs_military_context(tc: ThreatClassifier) -> None:
    assert "military_exercise" not in types_of(
        tc, "Schools hold drills", "Pupils took part in drills on Friday."
    )
    assert "military_exercise" in types_of(
        tc,
        "Navy holds drills",
        "The navy and air force held drills with warships and fighter jets off the coast.",
    )


def test_severity_ordering(tc: ThreatClassifier) -> None:
    strike = classify(tc, *POSITIVES["airstrike"]).severity
    exercise = classify(
        tc,
        "South Korea, U.S. to hold annual military exercise next month",
        (
            "SEOUL (UPI) -- South Korea and the United States will hold their annual Freedom Shield "
            "military exercise next month as scheduled, the Defense Ministry said."
        ),
    ).severity
    nothing = classify(tc, "Scientists discover new exoplanet", "Astronomers found a rocky planet.").severity
    assert strike.score > exercise.score > nothing.score == 0.0
    assert level_index(strike.level) > level_index(exercise.level) > level_index(nothing.level)
    assert strike.level in ("high", "critical")
    assert any("40" in e.text for e in strike.evidence)


def test_casualty_count_scales_severity(tc: ThreatClassifier) -> None:
    few = classify(
        tc, "Airstrike hits village", "An airstrike on the village killed two people, officials said."
    )
    many = classify(
        tc,
        "Airstrike hits village",
        "An airstrike on the village killed at least 300 people, officials said.",
    )
    assert many.severity.score > few.severity.score


def test_evidence_spans_are_exact(tc: ThreatClassifier) -> None:
    raw = json.loads((DATA / "seed_upi.json").read_text())
    # Non-ASCII text, including a char whose lowercase is longer ("İ"), must keep offsets exact.
    article = Article(
        id="u", title="İİ “Missile” launch — " + raw["title"], body="İstanbul’s ‘drills’ — " + raw["body"]
    )
    result = tc.classify(article)
    assert result.threats
    for label in result.threats:
        assert 0 < len(label.evidence) <= 10
        assert len(set(label.evidence)) == len(label.evidence)
        for ev in label.evidence:
            assert getattr(article, ev.field)[ev.start : ev.end] == ev.text
    for ev in result.severity.evidence:
        assert getattr(article, ev.field)[ev.start : ev.end] == ev.text


def test_title_outweighs_deep_body(tc: ThreatClassifier) -> None:
    filler = "The committee discussed the budget and other routine matters. " * 40
    in_title = classify(tc, "Cyberattack hits ministry", filler)
    deep = classify(tc, "Ministry update", filler + "It mentioned a cyberattack.")
    title_score = next(t.score for t in in_title.threats if t.type == "cyber")
    deep_score = max((t.score for t in deep.threats if t.type == "cyber"), default=0.0)
    assert title_score > deep_score


def test_taxonomy_loads_required_types_and_version(tc: ThreatClassifier) -> None:
    tax = tc.taxonomy
    assert set(tax.types) >= REQUIRED
    assert tax.version and tax.version.count(".") >= 2
    for t in tax.threat_types:
        assert 0 < t.base_severity <= 1
        assert set(t.alignment) == {"cameo", "plover", "acled"}
        assert t.alignment["plover"]
    assert ThreatClassifier.default() is tc


def _default_raw() -> dict[str, Any]:
    path = Path(__file__).resolve().parents[2] / "streams/domain/data/threats/taxonomy.yaml"
    raw = yaml.safe_load(path.read_text())
    assert isinstance(raw, dict)
    return raw


def test_custom_taxonomy_file(tmp_path: Path) -> None:
    raw = _default_raw()
    raw["version"] = "2099.1.0"
    path = tmp_path / "tax.yaml"
    path.write_text(yaml.safe_dump(raw))
    tc = ThreatClassifier(ThreatTaxonomy.load(path))
    assert tc.taxonomy.version == "2099.1.0"
    assert "missile" in {t.type for t in tc.classify(Article("x", *POSITIVES["missile"])).threats}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["types"]["nuclear"].__setitem__("phrase", {"x": 1}), "unknown key"),
        (lambda r: r.__setitem__("colour", "red"), "unknown key"),
        (lambda r: r["settings"].__setitem__("treshold", 0.4), "unknown key"),
        (lambda r: r.pop("version"), "version"),
        (lambda r: r["types"]["coup"].__setitem__("base_severity", 3), "base_severity"),
        (lambda r: r["types"]["missile"]["phrases"].__setitem__("Missile", 1.0), "lowercase"),
        (lambda r: r["types"]["military_exercise"]["contextual"][0].__setitem__("requires", "nope"), "nope"),
    ],
)
def test_taxonomy_validation_rejects_bad_files(
    tmp_path: Path, mutate: Callable[[Any], object], message: str
) -> None:
    raw = _default_raw()
    mutate(raw)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(TaxonomyError, match=message):
        ThreatTaxonomy.load(path)


def test_casualty_patterns() -> None:
    counts = {
        c.count for c in find_casualties("at least 12 people were killed and killing 40 more; 1,200 dead")
    }
    assert {12, 40, 1200} <= counts
    assert not find_casualties("he was killed in 2014 during the war")


_CASUALTY_TEXT = st.lists(
    st.sampled_from(
        ["at least", "12", "1,200", "three", "dozens", "people", "soldiers", "were", "have been", "killed",
         "killing", "dead", "died", "wounded", "injuring", "death toll", "rose to", "in", "2014", "the",
         "village", ",", ".", "-", "(", "\n", "killed_", "\u2014"]
    ),
    max_size=60,
).map(" ".join)  # fmt: skip


@given(_CASUALTY_TEXT)
@example("5 killed 3 wounded killing 4, death toll rose to 9")
def test_casualties_near_the_matched_words_are_those_of_the_whole_text(text: str) -> None:
    """Each pattern runs only where it can match (ending or starting at a casualty word the matcher
    found): on ASCII copy that finds what scanning the whole text finds."""
    tc = ThreatClassifier.default()
    hay = matcher.Haystack.of(text)
    scan = tc._matcher.new_scan()
    tc._matcher.scan(hay, matcher.BODY, scan)
    near = [(hay.char_offset(s), hay.char_offset(e)) for _, s, e in scan.triggers]
    assert find_casualties(hay.low, near) == find_casualties(hay.low)


@pytest.mark.parametrize(
    "adversarial",
    [
        "1 " * 100_000,
        "at least " * 25_000,
        "12 people people people " * 8_000,
        "killed " * 30_000,
        "death toll rose to " * 10_000,
        "9" * 200_000,
        "a" * 200_000,
    ],
)
def test_regexes_linear_on_adversarial_input(adversarial: str) -> None:
    started = time.perf_counter()
    for pattern in PATTERNS:
        for _ in pattern.finditer(adversarial):
            pass
    assert time.perf_counter() - started < 5.0


def test_classifier_survives_large_repetitive_article(tc: ThreatClassifier) -> None:
    body = "missile killed 12 people were killed drill " * 5_000
    started = time.perf_counter()
    result = classify(tc, "x", body)
    assert time.perf_counter() - started < 5.0
    assert result.threats


def test_taxonomy_without_a_required_type_is_rejected() -> None:
    import yaml

    raw = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "streams/domain/data/threats/taxonomy.yaml").read_text()
    )
    del raw["types"]["coup"]
    with pytest.raises(TaxonomyError, match="missing required threat types: coup"):
        ThreatTaxonomy.from_dict(raw)


_HAYSTACK_TEXT = st.text(
    st.sampled_from(
        [
            *"aZ 7.,-'\n\t",
            "\u2019",
            "\u201c",
            "\u2014",
            "\u00a0",
            "\u00e9",
            "\u0130",
            "\u00c9",
            "\u3000",
            "\u00b7",
        ]
    ),
    max_size=40,
)


@given(_HAYSTACK_TEXT)
@example("Seoul\u2019s \u201cmissile\u201d test \u2014 N. Korea")
@example("\u0130stanbul BOMBING")
@example("\u00e9t\u00e9 LAUNCH \u2014 \u201cdrills\u201d")  # non-ASCII, none of it a capital: the fast path
@example("\u00c9T\u00c9 launch\u2014")  # a non-ASCII capital: lowercased as a str first
def test_haystack_is_the_lowercased_punctuation_free_field(text: str) -> None:
    """The ASCII fast path and the present-punctuation path give what lower-then-replace-all gives."""
    low = matcher.lower_same_length(text)
    enc = low.encode()
    for ch in "\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u00a0\u00ab\u00bb\u2032\u00b7\u2022\u3000":
        enc = enc.replace(ch.encode(), b" " * len(ch.encode()))
    hay = matcher.Haystack.of(text)
    assert hay.data == b" " + enc.translate(matcher._BYTE_TABLE) + b" "
    assert hay.low == low
    assert hay.ascii == text.isascii()
    assert [hay.char_offset(len(low[:k].encode())) for k in range(len(low) + 1)] == list(range(len(low) + 1))
    # Counted from the nearest offset converted before: any order, repeats, and offsets inside a
    # character give what counting from the start gives.
    fresh = matcher.Haystack.of(text)
    offsets = list(range(len(fresh.utf8) + 1))
    random.Random(len(text)).shuffle(offsets)
    for b in offsets + offsets[:3]:
        assert fresh.char_offset(b) == len(fresh.utf8[:b].translate(None, matcher._CONTINUATION_BYTES))
