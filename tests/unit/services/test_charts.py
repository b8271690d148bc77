"""services.charts: well-formed SVG, values shown, empty data, escaped labels, no inline
style (the CSP forbids it)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from idp.services import charts

SVG = "{http://www.w3.org/2000/svg}"


def _parse(markup: str) -> ET.Element:
    root = ET.fromstring(str(markup))
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert "style" not in str(markup)  # presentation attributes only
    return root


def _texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_line_chart_draws_every_series_and_point() -> None:
    labels = ["01/11", "02/11", "03/11"]
    svg = charts.line_chart(labels, [charts.Series("OK", [3, 7, 1200]),
                                     charts.Series("Failed", [0, 2, 5])],
                            title="Sign-ins per day", desc="three days")
    root = _parse(svg)
    assert root.find(f"{SVG}title").text == "Sign-ins per day"
    assert root.find(f"{SVG}desc").text == "three days"
    assert len(root.findall(f".//{SVG}polyline")) == 2
    points = [c.find(f"{SVG}title").text for c in root.iter(f"{SVG}circle")]
    assert "03/11: 1.200" in points and "02/11: 2" in points
    assert {"01/11", "03/11", "OK", "Failed", "0", "400", "2.000"} <= set(_texts(root))


@pytest.mark.parametrize(("peak", "ticks"), [(0, ["0", "1"]), (2, ["0", "1", "2"]),
                                             (39, ["0", "10", "20", "30", "40", "50"]),
                                             (20, ["0", "4", "8", "12", "16", "20"])])
def test_gridlines_are_whole_numbers(peak: int, ticks: list[str]) -> None:
    root = _parse(charts.line_chart(["a"], [charts.Series("s", [peak])], title="t"))
    assert [t for t in _texts(root) if t not in ("a", "s")] == ticks


def test_line_chart_points_stay_inside_the_frame() -> None:
    svg = charts.line_chart(["a", "b"], [charts.Series("s", [0, 9])], title="t",
                            width=300, height=200)
    for circle in _parse(svg).iter(f"{SVG}circle"):
        assert 0 <= float(circle.get("cx")) <= 300 and 0 <= float(circle.get("cy")) <= 200


@pytest.mark.parametrize("labels", [[], ["only"]])
def test_line_chart_without_data(labels: list[str]) -> None:
    root = _parse(charts.line_chart(labels, [charts.Series("s", [0] * len(labels))],
                                    title="Nothing"))
    assert root.find(f"{SVG}title").text == "Nothing"
    assert _parse(charts.line_chart(labels, [], title="No series")) is not None


def test_labels_are_escaped() -> None:
    evil = '</text><script>alert(1)</script>&"'
    svg = charts.line_chart([evil], [charts.Series(evil, [1])], title=evil, desc=evil)
    root = _parse(svg)
    assert "<script>" not in str(svg)
    assert root.find(f"{SVG}title").text == evil
    bars = charts.bar_chart([(evil, 3)], title=evil)
    assert "<script>" not in str(bars)
    rect = _parse(bars).find(f".//{SVG}rect")
    assert rect.find(f"{SVG}title").text == f"{evil}: 3"


def test_bar_chart_scales_to_the_largest() -> None:
    root = _parse(charts.bar_chart([("Dịch vụ công", 40), ("Bệnh viện", 10), ("zero", 0)],
                                   title="Tokens"))
    widths = [float(r.get("width")) for r in root.iter(f"{SVG}rect")]
    assert widths[0] == pytest.approx(4 * widths[1]) and widths[2] == 0
    assert {"Dịch vụ công", "Bệnh viện", "40", "10"} <= set(_texts(root))


def test_bar_chart_empty_says_so() -> None:
    root = _parse(charts.bar_chart([], title="Tokens", empty="No tokens"))
    assert _texts(root) == ["No tokens"]
    assert _parse(charts.bar_chart([], title="Tokens")) is not None


def test_long_labels_are_cut_but_kept_in_the_tooltip() -> None:
    label = "Ứng dụng " * 10
    root = _parse(charts.bar_chart([(label, 1)], title="t"))
    assert any(t.endswith("…") and len(t) == 30 for t in _texts(root))
    assert root.find(f".//{SVG}rect/{SVG}title").text.startswith(label)


def test_share_bar() -> None:
    root = _parse(charts.share_bar(1, 4, title="Adoption", width=200))
    assert float(root.findall(f"{SVG}rect")[1].get("width")) == 50
    assert root.find(f"{SVG}desc").text == "1 / 4 (25%)"
    assert float(_parse(charts.share_bar(0, 0, title="x")).findall(f"{SVG}rect")[1]
                 .get("width")) == 0


@pytest.mark.parametrize(("value", "top"), [(0, 1), (1, 1), (3, 5), (7, 10), (10, 10),
                                            (11, 20), (199, 200), (1200, 2000), (5001, 10000)])
def test_nice_max(value: float, top: float) -> None:
    assert charts.nice_max(value) == top
