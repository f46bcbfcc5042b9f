"""GSO administrative units (Tổng cục Thống kê) as of 2020-01-01: province → district → commune.

`units()` holds the whole country (63 provinces, 10,767 communes); `SON_LA` is the
province this deployment serves first. Codes are strings: 2, 3 and 5 digits.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

CSV_PATH = Path(__file__).with_name("vn_admin_units_2020-01-01.csv")
SON_LA = "14"


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    kind: str  # "Tỉnh", "Thành phố", "Huyện", "Xã", "Phường", "Thị trấn", ...
    parent_code: str | None = None


class NotServed(ValueError):
    """A commune code that is not in the GSO list, or not in the provinces a deployment serves."""


@dataclass
class AdminUnits:
    provinces: dict[str, Unit] = field(default_factory=dict)
    districts: dict[str, Unit] = field(default_factory=dict)
    communes: dict[str, Unit] = field(default_factory=dict)

    def district_of(self, commune_code: str) -> str | None:
        commune = self.communes.get(commune_code)
        return commune.parent_code if commune else None

    def province_of_district(self, district_code: str) -> str | None:
        district = self.districts.get(district_code)
        return district.parent_code if district else None

    def locate(self, commune_code: str, provinces: tuple[str, ...]) -> dict[str, str]:
        """``{commune_code, district_code, province_code}`` of a commune of the served ``provinces``."""
        district = self.district_of(commune_code)
        if district is None:
            raise NotServed(f"{commune_code!r} is not a commune code in the GSO list")
        province = self.province_of_district(district)
        if province not in provinces:
            raise NotServed(f"commune {commune_code} is outside the provinces this system serves")
        return {"commune_code": commune_code, "district_code": district, "province_code": province}

    def communes_in(self, district_code: str) -> list[Unit]:
        return [c for c in self.communes.values() if c.parent_code == district_code]

    def districts_in(self, province_code: str) -> list[Unit]:
        return [d for d in self.districts.values() if d.parent_code == province_code]


@cache
def units() -> AdminUnits:
    result = AdminUnits()
    with CSV_PATH.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            result.provinces.setdefault(
                row["province_code"],
                Unit(row["province_code"], row["province_name"], row["province_type"]),
            )
            result.districts.setdefault(
                row["district_code"],
                Unit(row["district_code"], row["district_name"], row["district_type"], row["province_code"]),
            )
            result.communes[row["commune_code"]] = Unit(
                row["commune_code"], row["commune_name"], row["commune_type"], row["district_code"]
            )
    return result
