"""Region classifier: gazetteer matching, ambiguity rules, scoring and the RegionResult contract."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from streams.domain.model import Article, Evidence, RegionResult
from streams.domain.regions import RegionClassifier
from streams.domain.regions.ambiguity import is_title_case
from streams.domain.regions.classifier import credits_start, dateline_end
from streams.domain.regions.gazetteer import PAIR_TABLE, fold
from streams.domain.regions.matching import mark

pytestmark = pytest.mark.unit

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def rc() -> RegionClassifier:
    return RegionClassifier.default()


def classify(rc: RegionClassifier, title: str, body: str) -> RegionResult:
    return rc.classify(Article(id="t", title=title, body=body))


def codes(result: RegionResult) -> list[str]:
    return [c.code for c in result.countries]


def assert_spans_exact(article: Article, result: RegionResult) -> None:
    for label in result.countries:
        assert label.evidence, label.code
        assert len(label.evidence) <= 10
        assert len({(e.field, e.start) for e in label.evidence}) == len(label.evidence)
        for ev in label.evidence:
            assert getattr(article, ev.field)[ev.start : ev.end] == ev.text


# --- the seed case -------------------------------------------------------------------------------


def test_seed_upi_article(rc: RegionClassifier) -> None:
    raw = json.loads((DATA / "seed_upi.json").read_text())
    article = Article(id=raw["id"], title=raw["title"], body=raw["body"])
    result = rc.classify(article)
    found = codes(result)
    assert {"KP", "KR", "US"} <= set(found)
    assert result.primary_country in {"KR", "KP"}
    assert "Eastern Asia" in result.regions
    assert "Korean Peninsula" in result.regions
    assert "UA" not in found  # "Moscow's war in Ukraine" is background
    scores = [c.score for c in result.countries]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == 1.0 and all(0.0 < s <= 1.0 for s in scores)
    assert_spans_exact(article, result)
    kp = next(c for c in result.countries if c.code == "KP")
    assert {"North Korea", "Pyongyang", "KCNA", "Kim Jong Un"} <= {e.text for e in kp.evidence}
    assert kp.name == "North Korea"


def test_classifier_is_cached_and_builds_fast() -> None:
    start = time.perf_counter()
    first = RegionClassifier.default()
    assert time.perf_counter() - start < 1.5
    assert RegionClassifier.default() is first


# --- layout: dateline, lead, passing mentions -----------------------------------------------------


@pytest.mark.parametrize(
    ("body", "rest"),
    [
        ("SEOUL, April 15 (UPI) -- The ministry said", "The ministry said"),
        ("KYIV, Ukraine (AP) — Russia launched", "Russia launched"),
        ("WASHINGTON (Reuters) - The Pentagon said", "The Pentagon said"),
        ("TEL AVIV, Israel, Dec. 3 (UPI) -- Sirens", "Sirens"),
        ("BEIRUT, Lebanon — Israeli jets struck", "Israeli jets struck"),
    ],
)
def test_dateline_detected(body: str, rest: str) -> None:
    assert body[dateline_end(body) :].lstrip() == rest


def test_no_dateline_in_plain_prose() -> None:
    assert dateline_end("The ministry said on Monday that talks would resume.") == 0


def test_dateline_boosts_its_country(rc: RegionClassifier) -> None:
    body = (
        "{place} (AP) — Officials said on Monday that talks between Egypt and Kenya on regional trade "
        "would resume next month after a pause, according to a statement from the ministry."
    )
    cairo = classify(rc, "Trade talks to resume", body.format(place="CAIRO"))
    nairobi = classify(rc, "Trade talks to resume", body.format(place="NAIROBI"))
    assert cairo.primary_country == "EG"
    assert nairobi.primary_country == "KE"


def test_bureau_dateline_alone_is_not_the_story(rc: RegionClassifier) -> None:
    result = classify(
        rc,
        "Myanmar military airstrike kills villagers in Sagaing",
        "BANGKOK (AP) — An airstrike by Myanmar's military killed at least 15 villagers in the Sagaing "
        "region, residents said. The army seized power from Aung San Suu Kyi's government in 2021.",
    )
    assert codes(result) == ["MM"]
    assert result.regions == ("ASEAN", "South-eastern Asia")


def test_passing_mention_deep_in_body_dropped(rc: RegionClassifier) -> None:
    filler = " ".join(["Officials reviewed the damage and said repairs would take weeks."] * 12)
    body = (
        "MANILA, Philippines (AP) — A powerful typhoon slammed into the northern Philippines on Monday, "
        "forcing thousands to flee. Philippine officials said at least 12 people died.\n\n"
        + filler
        + "\n\nThe storm was the strongest since one that hit Japan last year."
    )
    result = classify(rc, "Typhoon kills 12 in the Philippines", body)
    assert codes(result) == ["PH"]


def test_repeated_secondary_country_is_kept(rc: RegionClassifier) -> None:
    result = classify(
        rc,
        "Venezuela's Maduro accuses US of plotting invasion",
        "CARACAS, Venezuela (AP) — Venezuelan President Nicolas Maduro accused the United States on Monday "
        "of plotting to invade the South American country, as U.S. warships patrolled the Caribbean. "
        "Washington has accused Maduro of drug trafficking.",
    )
    assert codes(result) == ["VE", "US"]
    assert "Latin America and the Caribbean" in result.regions and "Northern America" in result.regions


def test_no_place_names_gives_empty_result(rc: RegionClassifier) -> None:
    result = classify(rc, "Markets steady", "Stocks were little changed on Tuesday as investors waited.")
    assert result == RegionResult((), None, ())


# --- ambiguous names ------------------------------------------------------------------------------


def test_georgia_the_country(rc: RegionClassifier) -> None:
    result = classify(
        rc,
        "Georgia's ruling party claims victory amid protests",
        "Georgia's ruling party claimed victory in parliamentary elections on Sunday as thousands of "
        "protesters rallied outside parliament, accusing the government of drifting toward Moscow.",
    )
    assert result.primary_country == "GE"
    assert "Caucasus" in result.regions


def test_georgia_the_us_state(rc: RegionClassifier) -> None:
    result = classify(
        rc,
        "Georgia election officials certify results",
        "ATLANTA (AP) — Georgia election officials on Friday certified the results of the state's primary. "
        "Gov. Brian Kemp praised county workers for a smooth vote across Georgia.",
    )
    assert codes(result) == ["US"]
    us = result.countries[0]
    assert "Georgia" in {e.text for e in us.evidence}


def test_georgians_follow_georgia(rc: RegionClassifier) -> None:
    state = classify(
        rc,
        "Georgians head to the polls",
        "ATLANTA (AP) — Georgians voted Tuesday in a primary for governor, with Republicans choosing "
        "between two candidates endorsed by Gov. Brian Kemp.",
    )
    assert codes(state) == ["US"]
    country = classify(
        rc,
        "Georgian Dream wins disputed vote",
        "TBILISI (Reuters) - Georgian Dream won the parliamentary election, the commission said. "
        "Georgians protested in Tbilisi.",
    )
    assert codes(country) == ["GE"]


def test_jordan_the_country(rc: RegionClassifier) -> None:
    result = classify(
        rc,
        "Jordan intercepts drones near Syrian border",
        "AMMAN, Jordan (Reuters) - Jordan's army said on Monday it shot down several drones carrying drugs "
        "that crossed from Syria. Jordanian officials blamed militias linked to Iran.",
    )
    assert result.primary_country == "JO"


def test_jordan_the_person(rc: RegionClassifier) -> None:
    result = classify(
        rc,
        "Michael Jordan's sneakers fetch record price at auction",
        "A pair of sneakers worn by Michael Jordan during the 1998 NBA Finals sold for $2.2 million on "
        "Tuesday, the auction house said. Jordan wore the shoes in Game 2.",
    )
    assert "JO" not in codes(result)


def test_jordan_person_and_country_in_one_story(rc: RegionClassifier) -> None:
    result = classify(
        rc,
        "Rep. Jim Jordan visits Amman",
        "Rep. Jim Jordan met Jordanian officials in Amman on Monday to discuss aid to Jordan, which hosts "
        "more than a million refugees.",
    )
    jo = next(c for c in result.countries if c.code == "JO")
    texts = [e.text for e in jo.evidence]
    assert "Amman" in texts and "Jordanian" in texts
    body_jordans = [e for e in jo.evidence if e.text == "Jordan" and e.field == "body"]
    assert len(body_jordans) == 1  # "aid to Jordan", not "Jim Jordan"


def test_turkey_the_country(rc: RegionClassifier) -> None:
    result = classify(
        rc,
        "Turkey detains dozens in Istanbul protests",
        "ISTANBUL (AP) — Turkish police detained dozens of people on Saturday as protests spread across "
        "Turkey following the arrest of Istanbul's mayor, a rival of President Recep Tayyip Erdogan.",
    )
    assert codes(result) == ["TR"]


def test_turkey_the_bird(rc: RegionClassifier) -> None:
    result = classify(
        rc,
        "Turkey prices rise ahead of Thanksgiving",
        "Shoppers will pay more for their Thanksgiving turkey this year as bird flu outbreaks cut flocks. "
        "A 16-pound turkey will cost about $58, farmers said.",
    )
    assert "TR" not in codes(result)


def test_chad_the_country_and_the_drummer(rc: RegionClassifier) -> None:
    country = classify(
        rc,
        "Chad's army clashes with rebels near Libyan border",
        "N'DJAMENA, Chad (AP) — Chad's army said it killed dozens of rebels in clashes in the northern "
        "Tibesti region. The Chadian government accused the rebels of receiving support from abroad.",
    )
    assert country.primary_country == "TD"
    assert "Sahel" in country.regions
    person = classify(
        rc,
        "Chad Smith to headline benefit concert",
        "Red Hot Chili Peppers drummer Chad Smith will headline a benefit concert next month, organizers "
        "said. Chad said he was honored to help.",
    )
    assert "TD" not in codes(person)


def test_niger_is_not_nigeria(rc: RegionClassifier) -> None:
    niger = classify(
        rc,
        "Niger junta expels ambassador",
        "NIAMEY, Niger (Reuters) - Niger's military junta ordered the ambassador to leave within 48 hours.",
    )
    nigeria = classify(
        rc,
        "Gunmen kill 30 in Nigeria's Plateau state",
        "ABUJA, Nigeria (AP) — Gunmen killed at least 30 people in central Nigeria's Plateau state, police "
        "said. President Bola Tinubu ordered security forces to hunt down the attackers.",
    )
    assert codes(niger) == ["NE"]
    assert codes(nigeria) == ["NG"]


def test_kim_jong_un_does_not_leak_un(rc: RegionClassifier) -> None:
    article = Article(
        id="t",
        title="Kim Jong Un oversees artillery drills",
        body="Kim Jong Un oversaw artillery firing drills on Tuesday, North Korean state media said.",
    )
    result = rc.classify(article)
    assert codes(result) == ["KP"]
    texts = {e.text for e in result.countries[0].evidence}
    assert "Kim Jong Un" in texts and "Un" not in texts


def test_us_uppercase_is_the_country_lowercase_is_a_pronoun(rc: RegionClassifier) -> None:
    pronoun = classify(rc, "Let us help you", "'Call us,' volunteers told residents, 'and let us in.'")
    assert pronoun.countries == ()
    country = classify(rc, "US imposes new sanctions", "The US said the sanctions target shipping firms.")
    assert codes(country) == ["US"]


def test_lowercase_common_words_do_not_match(rc: RegionClassifier) -> None:
    result = classify(
        rc,
        "Kitchen tips",
        "Set the china on the table, slice the turkey, and add chile flakes; a guinea fowl is optional.",
    )
    assert result.countries == ()


# --- aliases, demonyms, groups --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "code"),
    [
        ("The Kremlin said the talks were useful.", "RU"),
        ("The Pentagon said the drills were routine.", "US"),
        ("Downing Street said the minister would resign.", "GB"),
        ("Zhongnanhai has not commented on the reports.", "CN"),
        ("Zelenskyy urged allies to send air defenses.", "UA"),
        ("Netanyahu said the campaign would continue.", "IL"),
        ("KCNA said the launch was a success.", "KP"),
        ("South Korean officials said the launch failed.", "KR"),
        ("Taiwanese officials tracked the ships.", "TW"),
        ("Iranian officials denied the report.", "IR"),
        ("Houthis fired a missile at a tanker.", "YE"),
        ("Officials in Kiev said the strikes continued.", "UA"),
        ("Officials in Türkiye said the strikes continued.", "TR"),
        ("Officials in Cote d’Ivoire said the vote would go ahead.", "CI"),
    ],
)
def test_aliases_and_demonyms(rc: RegionClassifier, sentence: str, code: str) -> None:
    result = classify(rc, sentence, sentence)
    assert result.primary_country == code


def test_longest_match_wins(rc: RegionClassifier) -> None:
    result = classify(
        rc,
        "South Sudan clashes",
        "Fighting in South Sudan displaced thousands, South Sudanese aid workers said.",
    )
    assert codes(result) == ["SS"]
    result = classify(rc, "Storm nears New Mexico", "The storm moved across New Mexico on Tuesday.")
    assert codes(result) == ["US"]


def test_groups_and_subregions(rc: RegionClassifier) -> None:
    result = classify(
        rc,
        "Estonia and Latvia expel Russian diplomats",
        "Estonia and Latvia expelled Russian diplomats on Friday, the foreign ministries in Tallinn and "
        "Riga said, accusing Moscow of sabotage.",
    )
    assert {"EE", "LV", "RU"} <= set(codes(result))
    assert {"Baltic States", "Northern Europe", "Eastern Europe", "NATO", "EU"} <= set(result.regions)
    assert list(result.regions) == sorted(set(result.regions))


# --- wire stories from several continents ---------------------------------------------------------


def test_sudan_story(rc: RegionClassifier) -> None:
    result = classify(
        rc,
        "RSF attack kills dozens in Sudan's El Fasher",
        "PORT SUDAN, Sudan (AP) — An attack by Sudan's paramilitary Rapid Support Forces on a displacement "
        "camp near El Fasher in Darfur killed at least 40 people, activists said. The war between the "
        "Sudanese army and the RSF has killed thousands.",
    )
    assert codes(result) == ["SD"]
    assert result.regions == ("Northern Africa",)


def test_sahel_story(rc: RegionClassifier) -> None:
    result = classify(
        rc,
        "Jihadists kill soldiers in Burkina Faso and Mali",
        "BAMAKO, Mali (AP) — Islamic extremists killed dozens of soldiers in separate attacks in Mali and "
        "Burkina Faso, officials said, as violence spreads across the Sahel.",
    )
    assert set(codes(result)) == {"ML", "BF"}
    assert result.primary_country == "ML"
    assert "Sahel" in result.regions and "Sub-Saharan Africa" in result.regions


def test_ukraine_russia_story(rc: RegionClassifier) -> None:
    article = Article(
        id="ua",
        title="Russian missiles hit Kyiv as Zelensky pleads for air defense",
        body="KYIV, Ukraine (AP) — Russia launched a barrage of missiles and drones at Kyiv overnight, "
        "killing at least eight people, Ukrainian officials said. President Volodymyr Zelensky urged "
        "Western allies to send more air defense systems. The Kremlin said the strikes targeted military "
        "facilities.",
    )
    result = rc.classify(article)
    assert codes(result) == ["UA", "RU"]
    assert_spans_exact(article, result)
    assert Evidence("title", 29, 37, "Zelensky") in result.countries[0].evidence


def test_israel_gaza_lebanon_story(rc: RegionClassifier) -> None:
    result = classify(
        rc,
        "Israeli strikes kill 20 in Gaza as Hezbollah fires rockets",
        "JERUSALEM (AP) — Israeli airstrikes killed at least 20 Palestinians in the Gaza Strip on Tuesday, "
        "health officials said, while Hezbollah fired rockets into northern Israel from Lebanon.",
    )
    assert set(codes(result)) == {"IL", "PS", "LB"}
    assert {"Levant", "Middle East", "Western Asia"} <= set(result.regions)


def test_taiwan_china_story(rc: RegionClassifier) -> None:
    result = classify(
        rc,
        "China sends warships near Taiwan after Lai speech",
        "TAIPEI, Taiwan (Reuters) - China sent dozens of warplanes and warships around Taiwan on Thursday, "
        "Taiwan's defense ministry said, days after President Lai Ching-te said the island would not bow "
        "to pressure from Beijing.",
    )
    assert codes(result) == ["TW", "CN"]
    assert "Taiwan Strait" in result.regions


# --- text handling --------------------------------------------------------------------------------


def test_fold_keeps_length_for_expanding_lowercase() -> None:
    text = "İstanbul and İzmir"
    assert len("İ".lower()) == 2  # the reason fold() exists
    assert len(fold(text)) == len(text)
    assert fold(text) == "istanbul and izmir"


def test_spans_index_original_text_after_expanding_characters(rc: RegionClassifier) -> None:
    article = Article(
        id="u",
        title="İİİ Turkish officials meet Greek counterparts",
        body="İİ ANKARA, April 2 (UPI) -- Turkish and Greek officials met in Ankara. "
        "İ Greece said talks went well.",
    )
    result = rc.classify(article)
    assert {"TR", "GR"} <= set(codes(result))
    assert_spans_exact(article, result)


def test_all_caps_dateline_and_title_words_match(rc: RegionClassifier) -> None:
    result = classify(
        rc, "MALI: JUNTA EXTENDS RULE", "BAMAKO (AFP) - The junta extended its rule by five years."
    )
    assert codes(result) == ["ML"]


def test_title_case_detection() -> None:
    assert is_title_case("Israel Strikes Jordan Border Post")
    assert not is_title_case("Israel strikes near the Jordan border")


# --- labelled wire samples ------------------------------------------------------------------------

WIRE_SAMPLES = json.loads((DATA / "regions_wire_samples.json").read_text())


@pytest.mark.parametrize("sample", WIRE_SAMPLES, ids=[s["id"] for s in WIRE_SAMPLES])
def test_wire_sample_countries(rc: RegionClassifier, sample: dict[str, Any]) -> None:
    """Every country the story is about is found; anything else must be a defensible secondary actor."""
    article = Article(id=sample["id"], title=sample["title"], body=sample["body"])
    result = rc.classify(article)
    must, may = set(sample["must"]), set(sample["may"])
    assert must <= set(codes(result)) <= must | may
    assert result.primary_country in must
    assert_spans_exact(article, result)


def test_all_caps_abbreviations_need_capitals(rc: RegionClassifier) -> None:
    assert codes(classify(rc, "Report", "TASS said the talks ended. Tass later corrected it.")) == ["RU"]
    assert classify(rc, "Report", "The kcna of it all; pla and idf are typos here.").countries == ()


def test_credits_and_lists_of_bystanders_are_discounted(rc: RegionClassifier) -> None:
    body = (
        "VIENNA (AP) — Iran said Thursday it would continue enriching uranium after the U.N. nuclear "
        "watchdog's board censured Tehran for failing to cooperate with inspectors. The resolution was "
        "sponsored by Britain, France, Germany and the United States.\n\nIran's Foreign Minister Abbas "
        "Araghchi called the move politically motivated.\n\nAssociated Press writers in Dubai, United Arab "
        "Emirates, and Berlin contributed to this report."
    )
    result = classify(rc, "Iran says it will keep enriching uranium despite IAEA censure", body)
    assert codes(result) == ["IR"]
    assert credits_start(body) == body.index("Associated Press writers")
    reuters = (
        "Kenyan police fired tear gas. (Reporting by Duncan Miriri in Kampala; Editing by Alison Williams)"
    )
    assert reuters[credits_start(reuters) :].startswith("(Reporting by")
    assert credits_start("No credits here.") == len("No credits here.")


@given(st.binary(max_size=64) | st.text(alphabet="aZ .,-\n\x00?M", max_size=64).map(str.encode))
@example(b"")
@example(b"N. Korea")
def test_mark_is_the_pair_table_over_each_byte_and_the_next(data: bytes) -> None:
    """The compiled loop gives what the table gives over the padded buffer's overlapping byte pairs."""
    padded = np.frombuffer(b" " + data + b"  ", dtype=np.uint8).astype(np.intp)
    assert mark(data) == PAIR_TABLE[padded[:-1] | padded[1:] << 8].tobytes()
