"""Each service has a page under docs/services/ that names every Prometheus series the service exposes,
so an operator reading the page finds what a dashboard or alert can use."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERIES = re.compile(r"""\b(?:Counter|Gauge|Histogram|Summary)\(\s*["']([a-z_:][a-z0-9_:]*)["']""")
# The four services, and any later one that has its page (a new service adds its page with it).
PAGES = ROOT / "docs" / "services"
SERVICES = sorted({"ingest", "metrics", "notifier", "survey"}
                  | {p.stem for p in PAGES.glob("*.md") if (ROOT / "services" / p.stem).is_dir()})


def series_of(folder: Path) -> set[str]:
    names = set()
    for path in folder.rglob("*.py"):
        if "tests" not in path.parts:
            names |= set(SERIES.findall(path.read_text(encoding="utf-8")))
    return names


@pytest.mark.parametrize("service", SERVICES)
def test_service_page_names_every_series(service):
    page = ROOT / "docs" / "services" / f"{service}.md"
    assert page.exists(), f"docs/services/{service}.md is missing"
    text = page.read_text(encoding="utf-8")
    shared = series_of(ROOT / "services" / "common")
    missing = sorted(name for name in series_of(ROOT / "services" / service) | shared if name not in text)
    assert not missing, f"docs/services/{service}.md does not name: {missing}"
