"""Severity: how bad the reported threats are, from type base severities plus intensity cues.

Kept apart from detection so the scale can be retuned (in the taxonomy file) without touching matching.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from streams.domain.model import Evidence, Severity, SeverityLevel
from streams.domain.threats.casualties import CasualtyCount
from streams.domain.threats.taxonomy import SeveritySpec

NO_SEVERITY = Severity(0.0, "none", ())


def casualty_boost(spec: SeveritySpec, counts: Sequence[CasualtyCount]) -> float:
    """``per_decade * log10(1 + N)``: 1 killed adds a little, 40 killed much more, capped."""
    killed = max((c.count for c in counts if not c.wounded), default=0)
    wounded = max((c.count for c in counts if c.wounded), default=0)
    effective = killed + spec.wounded_factor * wounded
    if effective <= 0:
        return 0.0
    return min(spec.casualty_cap, spec.casualty_per_decade * math.log10(1.0 + effective))


def level_for(spec: SeveritySpec, score: float) -> SeverityLevel:
    for name, cut in spec.levels:
        if score >= cut:
            return name
    return "none"


def assess(
    spec: SeveritySpec,
    threat_severities: Sequence[float],
    cue_boosts: Sequence[float],
    casualties: Sequence[CasualtyCount],
    evidence: tuple[Evidence, ...],
) -> Severity:
    """Combine the worst threat (base severity x confidence) with intensity cues and casualty counts.

    ``threat_severities`` holds ``base_severity * score`` per reported threat; none -> level "none".
    """
    if not threat_severities:
        return NO_SEVERITY
    score = max(threat_severities)
    score += min(spec.cue_cap, sum(cue_boosts))
    score += casualty_boost(spec, casualties)
    score += min(spec.multi_type_cap, spec.multi_type_bonus * (len(threat_severities) - 1))
    # A reported threat is never "none": floor at the lowest level's cut point.
    low_cut = spec.levels[-1][1]
    score = min(1.0, max(score, low_cut))
    return Severity(score, level_for(spec, score), evidence)
