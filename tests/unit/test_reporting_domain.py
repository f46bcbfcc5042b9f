"""The reporting service's rules with plain objects: commune reports and their workflow, the
plan's targets, judging an indicator, and small-count suppression."""
from __future__ import annotations

from datetime import datetime, timezone
from itertools import combinations

import pytest

from services.reporting import domain
from services.reporting.domain import APPROVED, SUBMITTED, UNLOCKED, CommuneReport, Conflict, InvalidChange

AT = datetime(2020, 7, 2, 3, 0, tzinfo=timezone.utc)


def report(**values) -> CommuneReport:
    return CommuneReport.create("r1", commune_code="03646", district_code="116", province_code="14",
                                period=values.pop("period", "2020Q2"), by="cb-xa", at=AT, **values)


def test_a_new_report_is_a_draft_with_its_period_window():
    r = report(activities_count=3, audience=120, media_items=2)
    assert (r.status, r.locked, r.period_start.isoformat(), r.period_end.isoformat()) == (
        "draft", False, "2020-04-01", "2020-06-30")
    assert [s.action for s in r.history] == ["created"]


@pytest.mark.parametrize("values, field", [
    ({"activities_count": -1}, "activities_count"),
    ({"media_items": -2}, "media_items"),
    ({"establishments_counted": -5}, "establishments_counted"),
    ({"audience": 50, "activities_count": 0}, "audience"),
    ({"recognised_healthy": True, "registered_healthy": False}, "recognised_healthy"),
])
def test_reports_refuse_negatives_and_recognition_without_registration(values, field):
    with pytest.raises(InvalidChange) as error:
        report(**values)
    assert error.value.field == field


@pytest.mark.parametrize("period", ["2020", "2020S1", "2021Q1", "2020Q5", "bad"])
def test_a_report_is_for_a_month_or_quarter_that_has_started(period):
    with pytest.raises(InvalidChange) as error:
        report(period=period)
    assert error.value.field == "period"


def test_submit_approve_lock_then_unlock_with_a_reason_and_resubmit():
    r = report(activities_count=1, audience=10)
    r.submit("cb-xa", AT)
    with pytest.raises(Conflict):
        r.update({"media_items": 3}, "cb-xa", AT)  # submitted: waits for the district
    with pytest.raises(Conflict):
        r.approve("cb-xa", AT)  # not by the person who submitted it
    r.approve("phong-huyen", AT)
    assert (r.status, r.locked) == (APPROVED, True)
    with pytest.raises(Conflict):
        r.update({"media_items": 3}, "cb-xa", AT)
    with pytest.raises(InvalidChange):
        r.unlock("  ", "so-ldtbxh", AT)
    r.unlock("Sai số liệu khán giả quý II", "so-ldtbxh", AT)
    assert r.status == UNLOCKED and r.history[-1].reason == "Sai số liệu khán giả quý II"
    assert r.update({"audience": 15}, "cb-xa", AT) == ["audience"]
    r.submit("cb-xa", AT)
    assert r.status == SUBMITTED
    assert [s.action for s in r.history] == ["created", "submitted", "approved", "unlocked", "updated", "submitted"]


def test_only_a_submitted_report_is_approved_and_only_an_approved_one_unlocked():
    r = report()
    with pytest.raises(Conflict):
        r.approve("phong-huyen", AT)
    with pytest.raises(Conflict):
        r.unlock("lý do", "so", AT)


@pytest.mark.parametrize("value, target, over, expected", [
    (100.0, 100, True, "met"), (95.0, 100, True, "at_risk"), (80.0, 100, True, "missed"),
    (80.0, 100, False, "at_risk"), (None, 100, True, None), (50.0, None, True, None),
])
def test_judging_against_the_target(value, target, over, expected):
    assert domain.judge(value, target, 10, over) == expected


def test_a_plan_is_checked_as_data():
    good = {"id": "p", "title_vi": "Kế hoạch", "province_code": "14", "year": 2021,
            "indicators": [{"id": "a", "name_vi": "A", "name_en": "A", "kind": "ratio", "target": 100}]}
    assert domain.check_plan(good) is good
    with pytest.raises(InvalidChange):
        domain.check_plan({**good, "indicators": [{**good["indicators"][0], "target": 120}]})
    with pytest.raises(InvalidChange):
        domain.check_plan({**good, "indicators": good["indicators"] * 2})


# -- suppression --------------------------------------------------------------------------------
def recoverable(values, total, hidden, total_hidden) -> bool:
    """Could a reader work out a hidden count exactly from the shown ones and the total?"""
    shown_sum = sum(v for v, h in zip(values, hidden) if not h)
    hidden_values = [v for v, h in zip(values, hidden) if h]
    if total_hidden:
        return False
    return len(hidden_values) == 1 or (len(hidden_values) > 0 and total - shown_sum == 0)


def test_counts_from_one_to_four_show_as_less_than_five():
    hidden, total_hidden = domain.suppress_line([12, 3, 40, 0], 55)
    assert domain.shown(3, hidden[1]) == "<5"
    assert domain.shown(0, hidden[3]) == "0"
    assert not total_hidden


def test_a_single_small_count_gets_a_partner_so_it_cannot_be_subtracted_from_the_total():
    values = [12, 3, 40, 9]
    hidden, total_hidden = domain.suppress_line(values, sum(values))
    assert sum(hidden) >= 2 and hidden[1] and hidden[3]  # the smallest other count hides with it
    assert not recoverable(values, sum(values), hidden, total_hidden)


def test_a_partner_that_would_pin_down_the_small_count_is_not_enough():
    # 1 and 5 hidden with a known sum of 6: "<5" + "x" (5 or more) could only be 1 + 5.
    values = [1, 5, 20]
    hidden, _ = domain.suppress_line(values, 26)
    assert hidden == [True, True, True]


def test_a_two_way_table_hides_enough_in_every_row_and_column():
    cells = [[3, 10, 7], [7, 8, 0], [20, 1, 12]]
    rows = [sum(r) for r in cells]
    columns = [sum(c) for c in zip(*cells)]
    hidden, row_hidden, column_hidden, grand_hidden = domain.suppress_table(cells, rows, columns, sum(rows))
    assert hidden[0][0] and hidden[2][1]
    flags = [list(h) + [t] for h, t in zip(hidden, row_hidden)] + [list(column_hidden) + [grand_hidden]]
    lines = [[(r, c) for c in range(4)] for r in range(4)] + [[(r, c) for r in range(4)] for c in range(4)]
    for line in lines:
        assert sum(flags[r][c] for r, c in line) != 1, line


def test_breakdowns_sharing_their_totals_hide_the_same_totals():
    by_sex = [[6, 0], [2, 7]]
    by_age = [[3, 3], [5, 4]]
    totals = [6, 9]
    cells, column_hidden, row_hidden, grand_hidden = domain.suppress_breakdowns([by_sex, by_age], totals, 15)
    for table, flags, col_flags in zip([by_sex, by_age], cells, column_hidden):
        for r, row in enumerate(table):
            line = list(flags[r]) + [row_hidden[r]]
            assert sum(line) != 1
    assert all(cells[1][0])  # 3 and 3 both small


def test_exhaustively_no_small_line_is_recoverable():
    for values in combinations([0, 1, 2, 4, 5, 6, 9, 30], 3):
        hidden, total_hidden = domain.suppress_line(list(values), sum(values))
        for v, h in zip(values, hidden):
            if domain.is_small(v):
                assert h
        if total_hidden is False and sum(hidden) > 0:
            assert sum(hidden) >= 2
