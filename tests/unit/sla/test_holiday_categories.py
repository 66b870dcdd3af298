"""Holiday-set categories: a day of a non-public category closes only when it is chosen."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.sla.domain.calendar import BusinessCalendar, HolidaySet, holiday_categories
from services.sla.domain.calendar_spec import CalendarSpec, HolidaySetRule, WeeklyShift

NY = ZoneInfo("America/New_York")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
WEEKDAYS_9_17 = {d: ["09:00-17:00"] for d in range(5)}
ST_PATRICKS = date(2026, 3, 17)  # a Tuesday; US category "unofficial"
LIBERATION_DAY = date(2026, 5, 5)  # a Tuesday; NL category "optional" in 2026
KINGS_DAY = date(2026, 4, 27)  # a Monday; NL "public"


def _us(*categories: str) -> BusinessCalendar:
    return BusinessCalendar.weekly(
        "America/New_York", WEEKDAYS_9_17, holiday_sets=[HolidaySet("US", "NY", categories)]
    )


@pytest.mark.parametrize("categories", [(), ("public",)])
def test_a_non_public_day_stays_open_unless_its_category_is_chosen(
    categories: tuple[str, ...],
) -> None:
    calendar = _us(*categories)
    assert not calendar.is_holiday(ST_PATRICKS)
    assert calendar.is_holiday(date(2026, 7, 3))  # Independence Day (observed) is public
    start = datetime(2026, 3, 16, 16, 0, tzinfo=NY)
    assert calendar.add_business_time(start, timedelta(hours=2)) == datetime(
        2026, 3, 17, 10, 0, tzinfo=NY
    )


def test_choosing_the_category_closes_its_days_and_keeps_public_ones_when_named() -> None:
    calendar = _us("public", "unofficial")
    assert calendar.is_holiday(ST_PATRICKS)
    assert calendar.is_holiday(date(2026, 7, 3))
    start = datetime(2026, 3, 16, 16, 0, tzinfo=NY)
    assert calendar.add_business_time(start, timedelta(hours=2)) == datetime(
        2026, 3, 18, 10, 0, tzinfo=NY
    )
    whole_day = (datetime(2026, 3, 17, tzinfo=NY), datetime(2026, 3, 18, tzinfo=NY))
    assert calendar.business_time_between(*whole_day) == timedelta(0)
    assert _us().business_time_between(*whole_day) == timedelta(hours=8)


def test_naming_only_a_category_replaces_the_public_default() -> None:
    calendar = BusinessCalendar.weekly(
        "Europe/Amsterdam", WEEKDAYS_9_17, holiday_sets=[HolidaySet("NL", None, ("optional",))]
    )
    assert calendar.is_holiday(LIBERATION_DAY)
    assert not calendar.is_holiday(KINGS_DAY)
    assert calendar.is_open(datetime(2026, 4, 27, 10, tzinfo=AMSTERDAM))
    assert not calendar.is_open(datetime(2026, 5, 5, 10, tzinfo=AMSTERDAM))


def test_categories_are_normalized() -> None:
    assert HolidaySet("US", None, (" Unofficial", "public", "PUBLIC")).categories == (
        "public",
        "unofficial",
    )


def test_an_unknown_category_is_refused_naming_the_offered_ones() -> None:
    with pytest.raises(ValueError, match=r"bank.*government, half_day, public, unofficial"):
        _us("bank")
    assert holiday_categories("GB") == ("public",)
    assert "catholic" in holiday_categories("DE", "BY")


def _spec(*sets: HolidaySetRule) -> CalendarSpec:
    return CalendarSpec(
        id="c",
        name="Office",
        zone="America/New_York",
        shifts=(
            WeeklyShift(
                (1, 2, 3, 4, 5), datetime(2026, 1, 1, 9).time(), datetime(2026, 1, 1, 17).time()
            ),
        ),
        holiday_sets=sets,
    )


def test_calendar_validation_names_the_field_and_the_allowed_categories() -> None:
    bad = _spec(HolidaySetRule("US", "NY", ("public",)), HolidaySetRule("GB", "", ("bank",)))
    violations = bad.validate()
    assert [v.field for v in violations] == ["calendar.holiday_sets[1].categories"]
    assert "'bank'" in violations[0].description
    assert "choose from public" in violations[0].description
    unknown_country = _spec(HolidaySetRule("XX", "", ("public",))).validate()
    assert [v.field for v in unknown_country] == ["calendar.holiday_sets[0]"]
    assert _spec(HolidaySetRule("US", "NY", ("unofficial", "public"))).validate() == []


def test_the_spec_applies_its_categories_and_keeps_them_in_snapshots() -> None:
    spec = _spec(HolidaySetRule("US", "NY", ("public", "unofficial")))
    assert spec.business_calendar().is_holiday(ST_PATRICKS)
    assert not _spec(HolidaySetRule("US", "NY")).business_calendar().is_holiday(ST_PATRICKS)
    assert CalendarSpec.from_json(spec.to_json()) == spec


def test_a_stored_category_the_country_lacks_is_ignored_rather_than_failing() -> None:
    legacy = _spec(HolidaySetRule("US", "NY", ("bogus", "unofficial")))
    calendar = legacy.business_calendar()
    assert calendar.is_holiday(ST_PATRICKS)
    assert calendar.holiday_sets[0].categories == ("unofficial",)
