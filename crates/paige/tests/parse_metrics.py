"""Parses a /metrics scrape with prometheus_client's OpenMetrics parser
(strict: it rejects anything that is not valid OpenMetrics text) and prints
the families as JSON for the Rust test (tests/it/metrics.rs) to check.

Usage: python parse_metrics.py SCRAPE_FILE
Output: {"families": {name: {"type": ..., "samples": [{"name", "labels", "value"}]}}}
"""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    families = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = {
            "type": family.type,
            "samples": [
                {"name": s.name, "labels": dict(s.labels), "value": s.value}
                for s in family.samples
            ],
        }
    json.dump({"families": families}, sys.stdout)


if __name__ == "__main__":
    main()
