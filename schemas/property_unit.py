"""The 28-character real-property unit number (不动产单元号) and what can be checked in it.

Structure (不动产单元设定与代码编制规则, GB/T 37346-2019), 6 + 6 + 2 + 5 + 1 + 8 characters:

    110105 003001 GB 00012 F 00020035
    |      |      |  |     | 定着物单元号: 8 digits (building 4 + unit 4; 00000000 with W)
    |      |      |  |     定着物特征码: F building, L forest or trees, Q other, W none
    |      |      |  宗地/宗海顺序号: 5 digits
    |      |      宗地/宗海特征码: ownership G state, J collective, Z undetermined; then the
    |      |      right: A collective ownership, B/S/X construction land (surface, above, below),
    |      |      C homestead, D/E/F contracted farm, forest or grassland, H sea area,
    |      |      G uninhabited island, W undetermined, Y other (A and C only after J)
    |      地籍区 3 digits + 地籍子区 3 digits
    county-level administrative division code (GB/T 2260): a province-level code 11-82 first
"""

from __future__ import annotations

import re

UNIT_NUMBER_LENGTH = 28

# The 34 province-level divisions of GB/T 2260, a row per region: north (Beijing ... Inner
# Mongolia), north-east, east, south-central, south-west, north-west; Taiwan, Hong Kong, Macao.
PROVINCE_CODES = frozenset({
    "11", "12", "13", "14", "15",
    "21", "22", "23",
    "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46",
    "50", "51", "52", "53", "54",
    "61", "62", "63", "64", "65",
    "71", "81", "82",
})  # fmt: skip
OWNERSHIP_CODES = frozenset("GJZ")
RIGHT_CODES = frozenset("ABSXCDEFHGWY")
COLLECTIVE_ONLY = frozenset("AC")
FIXTURE_CODES = frozenset("FLQW")


def region_problem(number: str) -> str | None:
    """Why the first six characters are no county-level division code, or None."""
    region = number[:6]
    if not re.fullmatch(r"\d{6}", region):
        return f"division code {region!r} is not six digits"
    if region[:2] not in PROVINCE_CODES:
        return f"division code {region} opens with {region[:2]}, no province-level code"
    if region[2:] == "0000":
        return f"division code {region} names a whole province, not a county"
    return None


def parts_problems(number: str) -> list[str]:
    """What is wrong with the parts after the division code of a 28-character unit number."""
    cadastral, parcel_kind, parcel = number[6:12], number[12:14], number[14:19]
    fixture_kind, fixture = number[19], number[20:]
    problems = []
    if not cadastral.isdigit():
        problems.append(f"地籍区/子区 {cadastral!r} is not six digits")
    owner, right = parcel_kind[0], parcel_kind[1]
    if owner not in OWNERSHIP_CODES or right not in RIGHT_CODES:
        problems.append(f"宗地特征码 {parcel_kind!r} is not G, J or Z and a right code")
    elif right in COLLECTIVE_ONLY and owner != "J":
        problems.append(f"宗地特征码 {parcel_kind}: {right} goes only with collective land (J)")
    if not parcel.isdigit():
        problems.append(f"宗地顺序号 {parcel!r} is not five digits")
    if fixture_kind not in FIXTURE_CODES:
        problems.append(f"定着物特征码 {fixture_kind!r} is not F, L, Q or W")
    if not fixture.isdigit():
        problems.append(f"定着物单元号 {fixture!r} is not eight digits")
    elif fixture_kind == "W" and fixture != "0" * 8:
        problems.append(f"定着物单元号 {fixture} should be 00000000 with no fixture (W)")
    return problems
