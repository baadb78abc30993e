"""Threat detection: which kinds of threat an article reports, with evidence, and how severe they are.

Pure Python (no Faust/Kafka): ``ThreatClassifier.default().classify(article)``.
"""

from streams.domain.threats.classifier import ThreatClassifier
from streams.domain.threats.taxonomy import TaxonomyError, ThreatTaxonomy

__all__ = ["TaxonomyError", "ThreatClassifier", "ThreatTaxonomy"]
