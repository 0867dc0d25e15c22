"""The levels above the community: districts (区/县), streets (街道) and communities (社区).

Codes follow the national statistical division codes (统计用区划代码): a district is its
6-digit GB/T 2260 code (the first two digits a province: 32 江苏, so 320106 南京市鼓楼区), a
street 3 more digits (the 9-digit code 320106001), a community 3 more (12 digits). A community
is known by its code as the plans use it (``GridRow.community``: the 12-digit code when the
data has one, which must then start with its street's 9 digits; an OSM id or another local
code otherwise).

Admins create, rename, move and delete them one by one or import them from a CSV
(``district_code, district_name, street_code, street_name, community_code, community_name``;
one transaction: a bad row imports nothing). A token limited to a street may read the tree
(its own street only) but edit nothing here (api.auth.WHOLE_AREA). The validation is ours:
GB/T 2260's province list is short and fixed, no library carries it.
"""

from __future__ import annotations

from typing import BinaryIO

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.auth import Principal
from api.errors import ApiError, not_found
from api.schemas import (
    CommunityIn,
    CommunityOut,
    DistrictIn,
    DistrictOut,
    LevelPatch,
    LevelsImportResult,
    LevelsTree,
    StreetIn,
    StreetOut,
)
from api.services.people import read_csv_upload
from api.settings import Settings
from api.store.models import CommunityRow, DistrictRow, GridRow, PlanRow, StreetRow

# GB/T 2260 provinces (省级): the first two digits of every division code.
PROVINCES = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
    "21": "辽宁省", "22": "吉林省", "23": "黑龙江省", "31": "上海市", "32": "江苏省",
    "33": "浙江省", "34": "安徽省", "35": "福建省", "36": "江西省", "37": "山东省",
    "41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区",
    "46": "海南省", "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省",
    "54": "西藏自治区", "61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区", "71": "台湾省", "81": "香港特别行政区", "82": "澳门特别行政区",
}
CSV_COLUMNS = ("district_code", "district_name", "street_code", "street_name",
               "community_code", "community_name")


def district_code_problem(code: str) -> tuple[str, str] | None:
    """Why ``code`` is no county-level GB/T 2260 code, as (zh, en); None when it is one."""
    if len(code) != 6 or not code.isdigit():
        return "区县代码应为 6 位数字（GB/T 2260）", "a district code is 6 digits (GB/T 2260)"
    if code[:2] not in PROVINCES:
        return (f"前两位 {code[:2]} 不是省级行政区划代码（GB/T 2260）",
                f"the first two digits {code[:2]} are no province of GB/T 2260")
    if code[4:] == "00":
        return ("后两位为 00：这是地市级代码，不是区县", "ends in 00: a prefecture's code, "
                "not a district's")
    return None


def street_code_problem(code: str) -> tuple[str, str] | None:
    """Why ``code`` is no 3-digit street code, as (zh, en); None when it is one."""
    if len(code) != 3 or not code.isdigit() or code == "000":
        return "街道代码应为 3 位数字（001–999）", "a street code is 3 digits (001-999)"
    return None


def community_code_problem(code: str, street: StreetRow) -> tuple[str, str] | None:
    """Why ``code`` cannot be a community of ``street``, as (zh, en); None when it can: a
    12-digit statistical code must start with the street's 9 digits."""
    if not code.strip():
        return "社区代码为空", "empty community code"
    if len(code) == 12 and code.isdigit() and not code.startswith(street.full_code):
        return (f"12 位统计代码 {code} 应以所属街道代码 {street.full_code} 开头",
                f"the 12-digit code {code} must start with its street's code "
                f"{street.full_code}")
    return None


def _invalid(problem: tuple[str, str], field: str) -> ApiError:
    return ApiError(422, "bad_level_code", f"{field}：{problem[0]}", f"{field}: {problem[1]}",
                    field=field)


def _flush(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise ApiError(409, "conflict", "代码已存在（区县、街道或社区代码重复）",
                       "that code exists already (a district, street or community code is "
                       "taken)") from exc


def _get(session: Session, model, ident: int, zh: str, en: str):
    row = session.get(model, ident)
    if row is None:
        raise not_found(zh, en, ident)
    return row


# ---- reading -------------------------------------------------------------------------------

def tree(session: Session, who: Principal) -> LevelsTree:
    """Districts > streets > communities with the active plan's grid counts (a street's
    token: its street only), and the active plan's communities in no street."""
    active = select(PlanRow.id).where(PlanRow.status == "active").scalar_subquery()
    counts = dict(session.execute(select(GridRow.community, func.count())
                                  .where(GridRow.plan_id == active)
                                  .group_by(GridRow.community)).all())
    streets = select(StreetRow).order_by(StreetRow.full_code)
    if who.street_id is not None:
        streets = streets.where(StreetRow.id == who.street_id)
    street_rows = list(session.scalars(streets))
    communities: dict[int, list[CommunityOut]] = {s.id: [] for s in street_rows}
    for c in session.scalars(select(CommunityRow).where(
            CommunityRow.street_id.in_(list(communities))).order_by(CommunityRow.code)):
        communities[c.street_id].append(CommunityOut(id=c.id, code=c.code, name=c.name,
                                                     street_id=c.street_id,
                                                     grids=counts.get(c.code, 0)))
    by_district: dict[int, list[StreetOut]] = {}
    for s in street_rows:
        by_district.setdefault(s.district_id, []).append(StreetOut(
            id=s.id, district_id=s.district_id, code=s.code, full_code=s.full_code,
            name=s.name, communities=communities[s.id]))
    districts = select(DistrictRow).order_by(DistrictRow.code)
    if who.street_id is not None:
        districts = districts.where(DistrictRow.id.in_(list(by_district)))
    out = [DistrictOut(id=d.id, code=d.code, name=d.name, streets=by_district.get(d.id, []))
           for d in session.scalars(districts)]
    unplaced: list[str] = []
    if who.street_id is None:
        known = set(session.scalars(select(CommunityRow.code)))
        unplaced = sorted(str(c) for c in counts if c is not None and c not in known)
    return LevelsTree(districts=out, unplaced_communities=unplaced)


def district_out(d: DistrictRow) -> DistrictOut:
    """A district without its streets."""
    return DistrictOut(id=d.id, code=d.code, name=d.name)


def street_out(s: StreetRow) -> StreetOut:
    """A street without its communities."""
    return StreetOut(id=s.id, district_id=s.district_id, code=s.code, full_code=s.full_code,
                     name=s.name)


def community_out(c: CommunityRow) -> CommunityOut:
    """A community without its grid count."""
    return CommunityOut(id=c.id, code=c.code, name=c.name, street_id=c.street_id)


# ---- changes (one at a time, committed) ----------------------------------------------------

def create_district(session: Session, body: DistrictIn) -> DistrictOut:
    """A new district; 422 for a code that is no GB/T 2260 district, 409 when taken."""
    problem = district_code_problem(body.code)
    if problem:
        raise _invalid(problem, "code")
    row = DistrictRow(code=body.code, name=body.name)
    session.add(row)
    _flush(session)
    out = district_out(row)
    session.commit()
    return out


def create_street(session: Session, body: StreetIn) -> StreetOut:
    """A new street of district ``body.district_id``."""
    district = _get(session, DistrictRow, body.district_id, "区县", "district")
    problem = street_code_problem(body.code)
    if problem:
        raise _invalid(problem, "code")
    row = StreetRow(district_id=district.id, code=body.code, full_code=district.code + body.code,
                    name=body.name)
    session.add(row)
    _flush(session)
    out = street_out(row)
    session.commit()
    return out


def create_community(session: Session, body: CommunityIn) -> CommunityOut:
    """A new community of street ``body.street_id``."""
    street = _get(session, StreetRow, body.street_id, "街道", "street")
    code = body.code.strip()
    problem = community_code_problem(code, street)
    if problem:
        raise _invalid(problem, "code")
    row = CommunityRow(code=code, name=body.name, street_id=street.id)
    session.add(row)
    _flush(session)
    out = community_out(row)
    session.commit()
    return out


def edit_district(session: Session, district_id: int, body: LevelPatch) -> DistrictOut:
    """Rename a district."""
    row = _get(session, DistrictRow, district_id, "区县", "district")
    if body.name is not None:
        row.name = body.name
    _flush(session)
    out = district_out(row)
    session.commit()
    return out


def edit_street(session: Session, street_id: int, body: LevelPatch) -> StreetOut:
    """Rename a street or move it to another district (its 9-digit code follows; its
    communities with 12-digit codes must still start with it)."""
    row = _get(session, StreetRow, street_id, "街道", "street")
    if body.name is not None:
        row.name = body.name
    if body.district_id is not None and body.district_id != row.district_id:
        district = _get(session, DistrictRow, body.district_id, "区县", "district")
        row.district_id, row.full_code = district.id, district.code + row.code
        for c in session.scalars(select(CommunityRow).where(CommunityRow.street_id == row.id)):
            problem = community_code_problem(c.code, row)
            if problem:
                session.rollback()
                raise _invalid(problem, f"community {c.code}")
    _flush(session)
    out = street_out(row)
    session.commit()
    return out


def edit_community(session: Session, community_id: int, body: LevelPatch) -> CommunityOut:
    """Rename a community or move it to another street."""
    row = _get(session, CommunityRow, community_id, "社区", "community")
    if body.name is not None:
        row.name = body.name
    if body.street_id is not None:
        street = _get(session, StreetRow, body.street_id, "街道", "street")
        problem = community_code_problem(row.code, street)
        if problem:
            raise _invalid(problem, "street_id")
        row.street_id = street.id
    _flush(session)
    out = community_out(row)
    session.commit()
    return out


def _in_use(zh: str, en: str) -> ApiError:
    return ApiError(409, "in_use", f"{zh}下仍有下级或令牌：请先删除或移走",
                    f"the {en} still has members or tokens: delete or move them first")


def delete_level(session: Session, level: str, ident: int) -> None:
    """Delete a district, street or community; 409 while a district has streets, a street
    communities or street tokens. Committed."""
    from api.store.models import TokenRow

    if level == "district":
        row = _get(session, DistrictRow, ident, "区县", "district")
        if session.scalar(select(StreetRow.id).where(StreetRow.district_id == ident).limit(1)):
            raise _in_use("区县", "district")
    elif level == "street":
        row = _get(session, StreetRow, ident, "街道", "street")
        if session.scalar(select(CommunityRow.id).where(CommunityRow.street_id == ident)
                          .limit(1)) or session.scalar(
                select(TokenRow.id).where(TokenRow.street_id == ident).limit(1)):
            raise _in_use("街道", "street")
    else:
        row = _get(session, CommunityRow, ident, "社区", "community")
    session.delete(row)
    session.commit()


# ---- CSV import ----------------------------------------------------------------------------

def _decode(upload: BinaryIO, settings: Settings) -> list[dict[str, str]]:
    rows = read_csv_upload(upload, settings)
    missing = [c for c in ("district_code", "street_code") if not rows or c not in rows[0]]
    if missing:
        raise ApiError(422, "bad_csv", f"CSV 需要表头，缺少列：{', '.join(missing)}（列为 "
                       f"{', '.join(CSV_COLUMNS)}）",
                       f"the CSV needs a header row; missing: {', '.join(missing)} (columns: "
                       f"{', '.join(CSV_COLUMNS)})")
    return rows


def _row_error(n: int, column: str, value: str, problem: tuple[str, str]) -> ApiError:
    return ApiError(422, "bad_csv", f"CSV 第 {n} 行，列 {column}={value!r}：{problem[0]}",
                    f"CSV row {n}, column {column}={value!r}: {problem[1]}", row=n,
                    column=column)


def import_levels(session: Session, settings: Settings, upload: BinaryIO) -> LevelsImportResult:
    """Districts, streets and communities from a CSV, one row per community (or per street
    without ``community_code``): existing codes are renamed (and a community moved to the
    row's street), new ones created. One transaction, committed."""
    rows = _decode(upload, settings)
    created = updated = 0
    seen: dict[str, set[str]] = {"district": set(), "street": set(), "community": set()}
    for n, row in enumerate(rows, start=2):
        cell = {c: (row.get(c) or "").strip() for c in CSV_COLUMNS}
        problem = district_code_problem(cell["district_code"])
        if problem:
            raise _row_error(n, "district_code", cell["district_code"], problem)
        problem = street_code_problem(cell["street_code"])
        if problem:
            raise _row_error(n, "street_code", cell["street_code"], problem)
        district = session.scalar(select(DistrictRow).where(
            DistrictRow.code == cell["district_code"]))
        if district is None:
            district = DistrictRow(code=cell["district_code"],
                                   name=cell["district_name"] or cell["district_code"])
            session.add(district)
            session.flush()
            created += 1
        elif cell["district_name"] and district.name != cell["district_name"]:
            district.name = cell["district_name"]
            updated += 1
        seen["district"].add(district.code)
        full = district.code + cell["street_code"]
        street = session.scalar(select(StreetRow).where(StreetRow.full_code == full))
        if street is None:
            street = StreetRow(district_id=district.id, code=cell["street_code"], full_code=full,
                               name=cell["street_name"] or full)
            session.add(street)
            session.flush()
            created += 1
        elif cell["street_name"] and street.name != cell["street_name"]:
            street.name = cell["street_name"]
            updated += 1
        seen["street"].add(full)
        code = cell["community_code"]
        if not code:
            continue
        problem = community_code_problem(code, street)
        if problem:
            raise _row_error(n, "community_code", code, problem)
        community = session.scalar(select(CommunityRow).where(CommunityRow.code == code))
        if community is None:
            session.add(CommunityRow(code=code, name=cell["community_name"] or code,
                                     street_id=street.id))
            created += 1
        elif (community.street_id, community.name) != (
                street.id, cell["community_name"] or community.name):
            community.street_id = street.id
            community.name = cell["community_name"] or community.name
            updated += 1
        seen["community"].add(code)
        session.flush()
    session.commit()
    return LevelsImportResult(districts=len(seen["district"]), streets=len(seen["street"]),
                              communities=len(seen["community"]), created=created,
                              updated=updated)
