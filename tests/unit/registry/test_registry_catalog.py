"""The bureau's Catalog files: dated, versioned rows; every bad field named by line."""

from __future__ import annotations

from datetime import date

import pytest

from services.registry.catalog import (
    EXAMPLE_DATA,
    CatalogError,
    load_catalog,
    load_high_skill_shortage_list,
    load_shortage_list,
    parse_catalog,
    parse_high_skill_shortage_list,
    parse_shortage_list,
)
from services.registry.domain import Occupation

TURNER = Occupation("6-18-01-01", 2015)
HEADER = "occupation_code,edition,name_zh,level,training_yuan,appraisal_yuan,valid_from,valid_to\n"


def catalog(*rows: str, version: str = "# version: test-1\n") -> str:
    return version + HEADER + "".join(row + "\n" for row in rows)


def refused(text: str) -> list[tuple[int, str]]:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text)
    return [(e.line, e.field) for e in caught.value.errors]


def test_example_catalog_is_marked_example_and_gives_reference_standards() -> None:
    shipped = load_catalog(EXAMPLE_DATA / "catalog.EXAMPLE.csv")
    assert shipped.example and shipped.version.startswith("example")
    level3 = shipped.row_on(TURNER, 3, date(2020, 5, 1))
    assert level3 is not None
    assert (level3.training_fen, level3.appraisal_fen, level3.standard_fen) == (
        150000,
        26000,
        176000,
    )
    assert len({row.occupation for row in shipped.rows}) >= 25


def test_example_shortage_lists_cover_2019_to_2021_and_the_provincial_list_is_dated() -> None:
    for year in (2019, 2020, 2021):
        shortage = load_shortage_list(EXAMPLE_DATA / f"shortage_{year}.EXAMPLE.csv")
        assert shortage.year == year and shortage.example
    provincial = load_high_skill_shortage_list(
        EXAMPLE_DATA / "provincial_high_skill_shortage.EXAMPLE.csv"
    )
    assert provincial.contains(TURNER, date(2021, 12, 31))
    assert not provincial.contains(TURNER, date(2022, 1, 1))


def test_standard_in_force_is_chosen_by_the_issue_date() -> None:
    version = parse_catalog(
        catalog(
            "6-18-01-01,2015,车工,3,1500,260,2019-01-01,2020-12-31",
            "6-18-01-01,2015,车工,3,1600,280,2021-01-01,",
        )
    )
    assert version.row_on(TURNER, 3, date(2020, 12, 31)).training_fen == 150000  # type: ignore[union-attr]
    assert version.row_on(TURNER, 3, date(2021, 1, 1)).training_fen == 160000  # type: ignore[union-attr]
    assert version.row_on(TURNER, 3, date(2018, 12, 31)) is None
    assert version.row_on(Occupation("6-18-01-01", 2022), 3, date(2020, 1, 1)) is None


def test_overlapping_rows_for_one_occupation_and_level_are_refused_naming_the_later_line() -> None:
    text = catalog(
        "6-18-01-01,2015,车工,3,1500,260,2019-01-01,",
        "6-18-01-01,2015,车工,4,1200,200,2019-01-01,",
        "6-18-01-01,2015,车工,3,1600,280,2021-01-01,",
    )
    assert refused(text) == [(5, "valid_from")]


def test_each_bad_field_is_reported_with_its_line() -> None:
    text = catalog(
        "6-18-01-01,2015,车工,3,1500,260,2019-01-01,",
        "6-18-1-01,2015,车工,3,1500,260,2019-01-01,",
        "6-18-01-02,2015,铣工,6,15.001,-1,2019-02-30,",
        "6-18-01-04,1999,,3,1500,260,2020-01-01,2019-12-31",
    )
    assert refused(text) == [
        (4, "occupation_code"),
        (5, "level"),
        (5, "training_yuan"),
        (5, "appraisal_yuan"),
        (5, "valid_from"),
        (6, "edition"),
        (6, "name_zh"),
        (6, "valid_to"),
    ]


def test_row_with_the_wrong_number_of_fields_is_one_error() -> None:
    assert refused(catalog("6-18-01-01,2015,车工,3,1500")) == [(3, "row")]


def test_missing_version_and_wrong_header_are_refused() -> None:
    assert refused(catalog("6-18-01-01,2015,车工,3,1500,260,2019-01-01,", version="")) == [
        (1, "version")
    ]
    assert (2, "header") in refused("# version: x\ncode,level\n")


def test_amounts_are_read_as_yuan_and_kept_in_fen() -> None:
    version = parse_catalog(catalog('6-18-01-01,2015,"车工",5,"1000.50",150,2019-01-01,'))
    assert version.rows[0].training_fen == 100050


def test_the_version_digest_changes_with_the_content() -> None:
    first = parse_catalog(catalog("6-18-01-01,2015,车工,3,1500,260,2019-01-01,"))
    second = parse_catalog(catalog("6-18-01-01,2015,车工,3,1501,260,2019-01-01,"))
    assert first.version == second.version and first.digest != second.digest


def test_a_spreadsheet_byte_order_mark_does_not_change_the_version() -> None:
    text = catalog("6-18-01-01,2015,车工,3,1500,260,2019-01-01,")
    assert parse_catalog("\ufeff" + text).digest == parse_catalog(text).digest


def test_shortage_list_needs_a_year_and_checks_its_codes() -> None:
    ok = parse_shortage_list(
        "# version: s\n# year: 2020\noccupation_code,edition,name_zh\n6-18-01-01,2015,车工\n"
    )
    assert ok.contains(TURNER) and not ok.contains(Occupation("6-18-01-02", 2015))
    with pytest.raises(CatalogError) as caught:
        parse_shortage_list("# version: s\noccupation_code,edition,name_zh\n6-18-01,2015,车工\n")
    assert [(e.line, e.field) for e in caught.value.errors] == [(1, "year"), (3, "occupation_code")]


def test_provincial_list_entry_ending_before_it_starts_is_refused() -> None:
    text = (
        "# version: p\noccupation_code,edition,name_zh,valid_from,valid_to\n"
        "6-18-01-01,2015,车工,2021-01-01,2020-01-01\n"
    )
    with pytest.raises(CatalogError, match="line 3, valid_to"):
        parse_high_skill_shortage_list(text)
