"""Region classification: which countries, UN M49 sub-regions and geopolitical groups a story is about."""

from streams.domain.regions.classifier import RegionClassifier
from streams.domain.regions.gazetteer import Gazetteer, build_gazetteer

__all__ = ["Gazetteer", "RegionClassifier", "build_gazetteer"]
