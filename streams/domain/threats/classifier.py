"""ThreatClassifier: article -> threat types (best first) with evidence, and a severity.

Data path: lowercase each field -> one automaton scan (``PhraseMatcher``) -> drop hits lacking their
required context -> scale hits by position, blockers/modifiers and domain register -> keep the longest of
overlapping hits per type -> saturating score per type -> evidence and severity for the reported types.

This is the hot path (thousands of articles a second), so per-hit work uses precomputed flat lists indexed
by small ints, modifiers are only checked against the types they apply to, and ``Evidence`` objects are
built only for reported types.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from functools import cache
from pathlib import Path

from streams.domain.model import Article, Evidence, Field, Severity, ThreatLabel, ThreatResult
from streams.domain.threats.casualties import CasualtyCount, find_casualties
from streams.domain.threats.matcher import BODY, FIELDS, TITLE, Event, Haystack, PhraseMatcher, Scan
from streams.domain.threats.severity import NO_SEVERITY, assess
from streams.domain.threats.taxonomy import ThreatTaxonomy

#: Longest context phrase considered when looking back for context words (bytes).
_MAX_CONTEXT_LEN = 64

#: A kept hit: (field, start, start - end, -weight, hit spec index, end). Plain tuple order sorts hits by
#: position, longest first, heaviest first, which is what overlap resolution needs.
_Hit = tuple[int, int, int, float, int, int]
#: A found modifier as seen by one hit: (window or -1 for whole article, required field or -1, factor,
#: field, start, end).
_Mod = tuple[int, int, float, int, int, int]

_FIELD_NAMES: tuple[Field, Field] = ("title", "body")


class ThreatClassifier:
    """Classifies articles against one taxonomy; build once and reuse (compiling the automaton is slow)."""

    def __init__(self, taxonomy: ThreatTaxonomy) -> None:
        self.taxonomy = taxonomy
        self._matcher = PhraseMatcher(taxonomy)
        specs = self._matcher.hit_specs
        s = taxonomy.settings
        self._settings = s
        self._types = taxonomy.types
        n_types = len(taxonomy.threat_types)
        self._n_types = n_types
        # Per hit spec, one flat tuple (an index lookup is cheaper than attributes on the hot path):
        # (type index, weight, required context group or -1, prefix phrase?).
        self._spec_info: list[tuple[int, float, int, bool]] = [
            (sp.type_index, sp.weight, sp.context, prefix)
            for sp, prefix in zip(specs, self._matcher.spec_is_prefix, strict=True)
        ]
        self._spec_weak = [sp.weight < s.weak_below for sp in specs]
        # Per modifier: the type indexes it applies to.
        self._mod_types: list[tuple[int, ...]] = [
            tuple(range(n_types)) if m.types is None else tuple(taxonomy.types.index(t) for t in m.types)
            for m in taxonomy.modifiers
        ]
        self._mod_window = [-1 if m.window is None else m.window for m in taxonomy.modifiers]
        self._mod_factor = [m.factor for m in taxonomy.modifiers]
        self._mod_field = [-1 if m.field is None else FIELDS.index(m.field) for m in taxonomy.modifiers]
        self._ctx_window = [c.window for c in taxonomy.contexts.values()]
        self._domain_min = [d.min_distinct for d in taxonomy.domains]
        self._domain_factor = [d.factor for d in taxonomy.domains]
        self._base_severity = [t.base_severity for t in taxonomy.threat_types]
        # A type whose weight sum passes this is saturated: its score no longer changes visibly.
        self._saturated = s.saturation * 12.0
        self._empty = ThreatResult((), NO_SEVERITY, taxonomy.version)

    @classmethod
    def default(cls) -> ThreatClassifier:
        """The shared classifier for the packaged taxonomy (built once per process)."""
        return _default_classifier()

    @classmethod
    def from_path(cls, path: str | Path) -> ThreatClassifier:
        return cls(ThreatTaxonomy.load(path))

    @classmethod
    def configured(cls, path: str | Path | None) -> ThreatClassifier:
        """The taxonomy file's classifier, else the packaged one: the one rule the worker and its
        classifier processes both follow, so they never label with different taxonomies."""
        return cls.from_path(path) if path else cls.default()

    def classify(self, article: Article) -> ThreatResult:
        body = article.body
        if len(body) > self._settings.max_body_chars:
            body = body[: self._settings.max_body_chars]  # a prefix, so evidence offsets stay valid
        hays = (Haystack.of(article.title), Haystack.of(body))
        scan = self._matcher.new_scan()
        match = self._matcher.scan
        match(hays[TITLE], TITLE, scan)
        match(hays[BODY], BODY, scan)
        if not scan.hits:
            return self._empty

        casualties = self._casualties(scan, hays)
        by_type = self._weigh(scan, hays, any(not c.wounded for _, c in casualties))
        texts = (article.title, body)
        labels = self._score(by_type, hays, texts)
        if not labels:
            return self._empty

        severity = self._severity(labels, scan, casualties, hays, texts)
        return ThreatResult(tuple(labels), severity, self.taxonomy.version)

    # -- scoring -----------------------------------------------------------------------------------

    def _casualties(self, scan: Scan, hays: tuple[Haystack, Haystack]) -> list[tuple[int, CasualtyCount]]:
        if not scan.triggers:
            return []
        out: list[tuple[int, CasualtyCount]] = []
        for fld in (TITLE, BODY):
            hay = hays[fld]
            near = [(hay.char_offset(s), hay.char_offset(e)) for f, s, e in scan.triggers if f == fld]
            if near:
                out.extend((fld, c) for c in find_casualties(hay.low, near))
        return out

    def _domain_factor_of(self, scan: Scan, has_deaths: bool) -> float:
        factor = 1.0
        if scan.domains and not has_deaths:
            distinct: dict[int, set[int]] = {}
            dom_of = self._matcher.domain_of_phrase
            for pi in scan.domains:
                distinct.setdefault(dom_of[pi], set()).add(pi)
            for di, phrases in distinct.items():
                if len(phrases) >= self._domain_min[di]:
                    factor = min(factor, self._domain_factor[di])
        return factor

    def _weigh(self, scan: Scan, hays: tuple[Haystack, Haystack], has_deaths: bool) -> list[list[_Hit]]:
        """Apply context requirements, position, modifiers and domain damping to every raw hit.

        Offsets here are UTF-8 byte offsets: windows and the lead/deep limits are approximate anyway.
        """
        s = self._settings
        datas = (hays[TITLE].data, hays[BODY].data)
        body = datas[BODY]
        # The lead is the first paragraph (newlines are spaces in ``body``: look for a double space).
        nl = body.find(b"  ", 150, s.lead_chars)
        lead_end = nl if nl != -1 else s.lead_chars
        deep_start = max(s.deep_chars, lead_end)
        title_w, lead_w, body_w, deep_w = s.title_weight, s.lead_weight, s.body_weight, s.deep_weight
        domain_factor = self._domain_factor_of(scan, has_deaths)

        # Found modifiers, per type they apply to (most types get none, so most hits skip this).
        mods: list[list[_Mod]] = [[] for _ in range(self._n_types)]
        for mi, mfld, ms, me in scan.modifiers:
            entry = (self._mod_window[mi], self._mod_field[mi], self._mod_factor[mi], mfld, ms, me)
            for t in self._mod_types[mi]:
                mods[t].append(entry)
        contexts = scan.contexts
        # Matches arrive ordered by end; overlapping phrases of one group can swap starts, so sort (cheap
        # on nearly sorted lists) before bisecting by start.
        for found in contexts:
            if len(found) > 1:
                found.sort()

        spec_info = self._spec_info
        has_context = self._has_context
        by_type: list[list[_Hit]] = [[] for _ in range(self._n_types)]
        for si, fld, start, end in scan.hits:
            t, w, ci, prefix = spec_info[si]
            if ci >= 0 and not has_context(contexts, ci, fld, start, end):
                continue
            if prefix:
                # A prefix phrase ("missile*") covers the whole word it starts ("missiles").
                end = datas[fld].find(b" ", end + 2) - 1
            if fld == TITLE:
                w *= title_w
            elif start < lead_end:
                w *= lead_w
            elif start >= deep_start:
                w *= deep_w
            else:
                w *= body_w
            for window, need_fld, factor, mfld, ms, me in mods[t]:
                if window < 0:
                    applies = need_fld < 0 or need_fld == mfld
                else:
                    # A hit that starts before an overlapping blocker, or strictly contains it, is the
                    # more specific reading: "fierce fighting for a year" is fighting although "fighting
                    # for" blocks plain "fighting"; "nuclear-powered cruise missile" survives
                    # "nuclear-powered".
                    applies = (
                        mfld == fld
                        and max(ms - end, start - me) <= window
                        and not (ms <= end and start <= me and (start < ms or (start == ms and me < end)))
                    )
                if applies:
                    w *= factor
                    if w == 0.0:
                        break
            if domain_factor != 1.0:
                w *= domain_factor
            if w > 0.0:
                by_type[t].append((fld, start, start - end, -w, si, end))
        return by_type

    def _has_context(
        self, contexts: list[list[tuple[int, int, int]]], ci: int, fld: int, start: int, end: int
    ) -> bool:
        found = contexts[ci]
        if not found:
            return False
        window = self._ctx_window[ci]
        if window is None:
            return True
        # ``found`` is sorted by (field, start): bisect to the first context that could be in range.
        # The context word must be another word than the hit itself ("drill" is not its own context).
        i = bisect_left(found, (fld, start - window - _MAX_CONTEXT_LEN, 0))
        limit = end + window
        for cfld, cs, ce in found[i:]:
            if cfld != fld or cs > limit:
                return False
            if cs != start and ce >= start - window:
                return True
        return False

    def _score(
        self, by_type: list[list[_Hit]], hays: tuple[Haystack, Haystack], texts: tuple[str, str]
    ) -> list[ThreatLabel]:
        s = self._settings
        weak_of = self._spec_weak
        repeat_decay, weak_cap, saturation = s.repeat_decay, s.weak_cap, s.saturation
        saturated = self._saturated
        labels: list[ThreatLabel] = []
        for t, hits in enumerate(by_type):
            if not hits:
                continue
            # Of overlapping hits of one type keep the longest ("nuclear test" over "nuclear"), and of
            # equal spans the heaviest ("protesters" over "protest*"): the tuple order sorts them first.
            hits.sort()
            kept: list[_Hit] = []
            last_fld = last_end = -1
            for h in hits:
                if h[0] == last_fld and h[1] <= last_end:
                    continue
                kept.append(h)
                last_fld, last_end = h[0], h[5]
            # Repeats of one phrase decay (the heaviest counts fully); weak phrases together are capped.
            kept.sort(key=_by_weight)
            strong = weak = 0.0
            seen: dict[int, float] = {}
            for h in kept:
                si = h[4]
                decay = seen.get(si, 1.0)
                seen[si] = decay * repeat_decay
                if weak_of[si]:
                    weak -= h[3] * decay
                else:
                    strong -= h[3] * decay
                    if strong >= saturated:
                        break
            total = strong + min(weak, weak_cap)
            score = 1.0 - math.exp(-total / saturation)
            if score < s.threshold:
                continue
            best = kept[: s.max_evidence]
            best.sort()
            evidence = tuple([_evidence(hays, texts, h[0], h[1], h[5]) for h in best])
            labels.append(ThreatLabel(self._types[t], score, evidence))
        labels.sort(key=_by_score, reverse=True)
        return labels

    def _severity(
        self,
        labels: list[ThreatLabel],
        scan: Scan,
        casualties: list[tuple[int, CasualtyCount]],
        hays: tuple[Haystack, Haystack],
        texts: tuple[str, str],
    ) -> Severity:
        types = self._types
        base = [self._base_severity[types.index(lab.type)] * lab.score for lab in labels]
        # Each distinct cue counts once, and one span once even when two cue phrases match it
        # ("test-fired" and "test-fire*"); the first occurrence is the evidence.
        seen: dict[int, Event] = {}
        spans: set[tuple[int, int, int]] = set()
        for cue in scan.cues:
            span = (cue[1], cue[2], cue[3])
            if cue[0] not in seen and span not in spans:
                seen[cue[0]] = cue
                spans.add(span)
        boosts = [self._matcher.cue_boosts[ci] for ci in seen]
        evidence = [
            _evidence(hays, texts, fld, st, en)
            for _, fld, st, en in sorted(seen.values(), key=lambda c: (c[1], c[2]))
        ]
        evidence.extend(_char_evidence(texts, fld, c.start, c.end) for fld, c in casualties)
        unique = tuple(dict.fromkeys(evidence))[: self._settings.max_evidence]
        return assess(self.taxonomy.severity, base, boosts, [c for _, c in casualties], unique)


def _by_weight(h: _Hit) -> float:
    return h[3]  # negative weight: ascending order is heaviest first


def _by_score(label: ThreatLabel) -> float:
    return label.score


def _evidence(
    hays: tuple[Haystack, Haystack], texts: tuple[str, str], fld: int, start: int, end: int
) -> Evidence:
    """Evidence from UTF-8 byte offsets of the matcher."""
    hay = hays[fld]
    if not hay.ascii:
        start, end = hay.char_offset(start), hay.char_offset(end)
    return Evidence(_FIELD_NAMES[fld], start, end, texts[fld][start:end])


def _char_evidence(texts: tuple[str, str], fld: int, start: int, end: int) -> Evidence:
    return Evidence(_FIELD_NAMES[fld], start, end, texts[fld][start:end])


@cache
def _default_classifier() -> ThreatClassifier:
    return ThreatClassifier(ThreatTaxonomy.default())
