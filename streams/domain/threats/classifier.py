"""ThreatClassifier: article -> threat types (best first) with evidence, and a severity.

Data path: lowercase each field -> one automaton scan (``PhraseMatcher``) -> drop hits lacking their
required context -> scale hits by position, blockers/modifiers and domain register -> keep the longest of
overlapping hits per type -> saturating score per type -> severity from the reported types.
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

#: (effective weight, hit spec index, field, start, end)
_Weighted = tuple[float, int, int, int, int]


class ThreatClassifier:
    """Classifies articles against one taxonomy; build once and reuse (compiling the automaton is slow)."""

    def __init__(self, taxonomy: ThreatTaxonomy) -> None:
        self.taxonomy = taxonomy
        self._matcher = PhraseMatcher(taxonomy)
        self._specs = self._matcher.hit_specs
        s = taxonomy.settings
        self._settings = s
        n_types = len(taxonomy.threat_types)
        # Per modifier: which type indexes it applies to.
        self._mod_types: list[frozenset[int]] = [
            frozenset(range(n_types))
            if m.types is None
            else frozenset(taxonomy.types.index(t) for t in m.types)
            for m in taxonomy.modifiers
        ]
        self._mod_window = [m.window for m in taxonomy.modifiers]
        self._mod_factor = [m.factor for m in taxonomy.modifiers]
        self._mod_field = [None if m.field is None else FIELDS.index(m.field) for m in taxonomy.modifiers]
        self._ctx_window = [c.window for c in taxonomy.contexts.values()]
        self._domain_min = [d.min_distinct for d in taxonomy.domains]
        self._domain_factor = [d.factor for d in taxonomy.domains]
        self._base_severity = [t.base_severity for t in taxonomy.threat_types]
        self._empty = ThreatResult((), NO_SEVERITY, taxonomy.version)

    @classmethod
    def default(cls) -> ThreatClassifier:
        """The shared classifier for the packaged taxonomy (built once per process)."""
        return _default_classifier()

    @classmethod
    def from_path(cls, path: str | Path) -> ThreatClassifier:
        return cls(ThreatTaxonomy.load(path))

    def classify(self, article: Article) -> ThreatResult:
        hays = (Haystack.of(article.title), Haystack.of(article.body))
        scan = Scan()
        match = self._matcher.scan
        match(hays[TITLE], TITLE, scan)
        match(hays[BODY], BODY, scan)
        if not scan.hits:
            return self._empty

        casualties: list[tuple[int, CasualtyCount]] = [
            (fld, c) for fld in sorted(scan.trigger_fields) for c in find_casualties(hays[fld].low)
        ]
        weighted = self._weigh(scan, hays[BODY].data, any(not c.wounded for _, c in casualties))
        labels = self._score(weighted, hays, (article.title, article.body))
        if not labels:
            return self._empty

        severity = self._severity(labels, scan, casualties, hays, (article.title, article.body))
        return ThreatResult(tuple(labels), severity, self.taxonomy.version)

    # -- scoring -----------------------------------------------------------------------------------

    def _weigh(self, scan: Scan, body: bytes, has_deaths: bool) -> dict[int, list[_Weighted]]:
        """Apply context requirements, position, modifiers and domain damping to every raw hit.

        Offsets here are UTF-8 byte offsets: windows and the lead/deep limits are approximate anyway.
        """
        s = self._settings
        specs = self._specs
        # The lead is the first paragraph (newlines are spaces in ``body``: look for a double space).
        nl = body.find(b"  ", 150, s.lead_chars)
        lead_end = nl if nl != -1 else s.lead_chars
        deep_start = max(s.deep_chars, lead_end)

        domain_factor = 1.0
        if scan.domains and not has_deaths:
            distinct: dict[int, set[int]] = {}
            dom_of = self._matcher.domain_of_phrase
            for pi in scan.domains:
                distinct.setdefault(dom_of[pi], set()).add(pi)
            for di, phrases in distinct.items():
                if len(phrases) >= self._domain_min[di]:
                    domain_factor = min(domain_factor, self._domain_factor[di])

        contexts = scan.contexts
        for found in contexts.values():
            found.sort()
        modifiers = scan.modifiers
        mod_types, mod_window, mod_factor, mod_field = (
            self._mod_types,
            self._mod_window,
            self._mod_factor,
            self._mod_field,
        )
        out: dict[int, list[_Weighted]] = {}
        for si, fld, start, end in scan.hits:
            spec = specs[si]
            t = spec.type_index
            if spec.context >= 0 and not self._has_context(contexts, spec.context, fld, start, end):
                continue
            if fld == TITLE:
                w = spec.weight * s.title_weight
            elif start < lead_end:
                w = spec.weight * s.lead_weight
            elif start >= deep_start:
                w = spec.weight * s.deep_weight
            else:
                w = spec.weight * s.body_weight
            for mi, mfld, ms, me in modifiers:
                if t not in mod_types[mi]:
                    continue
                window = mod_window[mi]
                if window is None:
                    applies = mod_field[mi] is None or mod_field[mi] == mfld
                else:
                    # A hit that starts before an overlapping blocker, or strictly contains it, is the more
                    # specific reading: "fierce fighting for a year" is fighting although "fighting for"
                    # blocks plain "fighting"; "nuclear-powered cruise missile" survives "nuclear-powered".
                    applies = (
                        mfld == fld
                        and max(ms - end, start - me) <= window
                        and not (ms <= end and start <= me and (start < ms or (start == ms and me < end)))
                    )
                if applies:
                    w *= mod_factor[mi]
                    if w == 0.0:
                        break
            w *= domain_factor
            if w > 0.0:
                out.setdefault(t, []).append((w, si, fld, start, end))
        return out

    def _has_context(
        self, contexts: dict[int, list[tuple[int, int, int]]], ci: int, fld: int, start: int, end: int
    ) -> bool:
        found = contexts.get(ci)
        if not found:
            return False
        window = self._ctx_window[ci]
        if window is None:
            return True
        # Matches arrive in text order per field; bisect to the first context that could be in range.
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
        self, weighted: dict[int, list[_Weighted]], hays: tuple[Haystack, Haystack], texts: tuple[str, str]
    ) -> list[ThreatLabel]:
        s = self._settings
        specs = self._specs
        labels: list[ThreatLabel] = []
        for t, hits in weighted.items():
            # Of overlapping hits of one type keep the longest ("nuclear test" over "nuclear"), and of
            # equal spans the heaviest ("protesters" over "protest*").
            hits.sort(key=lambda h: (h[2], h[3], h[3] - h[4], -h[0]))
            kept: list[_Weighted] = []
            for h in hits:
                if kept and kept[-1][2] == h[2] and h[3] < kept[-1][4]:
                    if h[4] - h[3] > kept[-1][4] - kept[-1][3]:
                        kept[-1] = h
                    continue
                kept.append(h)
            per_phrase: dict[int, list[float]] = {}
            for w, si, _, _, _ in kept:
                per_phrase.setdefault(si, []).append(w)
            strong = weak = 0.0
            for si, ws in per_phrase.items():
                ws.sort(reverse=True)
                contrib = sum(w * s.repeat_decay**i for i, w in enumerate(ws))
                if specs[si].weight < s.weak_below:
                    weak += contrib
                else:
                    strong += contrib
            total = strong + min(weak, s.weak_cap)
            score = 1.0 - math.exp(-total / s.saturation)
            if score < s.threshold:
                continue
            kept.sort(key=lambda h: h[0], reverse=True)
            best = kept[: s.max_evidence]
            best.sort(key=lambda h: (h[2], h[3]))
            evidence = tuple(_evidence(hays, texts, fld, start, end) for _, _, fld, start, end in best)
            labels.append(ThreatLabel(self.taxonomy.types[t], score, evidence))
        labels.sort(key=lambda lab: lab.score, reverse=True)
        return labels

    def _severity(
        self,
        labels: list[ThreatLabel],
        scan: Scan,
        casualties: list[tuple[int, CasualtyCount]],
        hays: tuple[Haystack, Haystack],
        texts: tuple[str, str],
    ) -> Severity:
        types = self.taxonomy.types
        base = [self._base_severity[types.index(lab.type)] * lab.score for lab in labels]
        # Each distinct cue counts once; its first occurrence is the evidence.
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


def _evidence(
    hays: tuple[Haystack, Haystack], texts: tuple[str, str], fld: int, start: int, end: int
) -> Evidence:
    """Evidence from UTF-8 byte offsets of the matcher."""
    hay = hays[fld]
    return _char_evidence(texts, fld, hay.char_offset(start), hay.char_offset(end))


def _char_evidence(texts: tuple[str, str], fld: int, start: int, end: int) -> Evidence:
    name: Field = "title" if fld == TITLE else "body"
    return Evidence(name, start, end, texts[fld][start:end])


@cache
def _default_classifier() -> ThreatClassifier:
    return ThreatClassifier(ThreatTaxonomy.default())
