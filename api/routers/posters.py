"""QR posters (楼栋二维码) and the public report form they open (api.services.posters):

* ``GET /posters/buildings/{building_id}``: a building's printable poster (office roles; a
  worker for the buildings of their grids);
* ``GET /posters/grids/{code}``: the posters of every building with homes in a grid, one a
  printed page;
* ``GET /public/report?b=&k=``: the form a poster's QR code opens (no login; the key ``k``
  comes from the poster), and ``POST /public/report``: the report it sends (channel
  ``qr_poster``), answered with a page in Chinese and English.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from api.auth import PostersRead
from api.deps import AppSettings, Grids, IncidentRules, ReadDb, WriteDb
from api.services import posters

router = APIRouter(tags=["posters 楼栋二维码"])


def _limits(request: Request) -> posters.PosterLimits:
    state = request.app.state
    if getattr(state, "poster_limits", None) is None:
        state.poster_limits = posters.PosterLimits()
    return state.poster_limits


@router.get("/posters/buildings/{building_id}", response_class=HTMLResponse,
            summary="楼栋二维码 a building's printable QR poster (opens the report form)")
def building_poster(building_id: str, request: Request, session: ReadDb, who: PostersRead,
                    settings: AppSettings):
    return HTMLResponse(posters.building_poster(session, settings, who, str(request.base_url),
                                                building_id))


@router.get("/posters/grids/{code}", response_class=HTMLResponse,
            summary="网格楼栋二维码 the posters of every building with homes in a grid")
def grid_posters(code: str, request: Request, session: ReadDb, who: PostersRead,
                 settings: AppSettings):
    return HTMLResponse(posters.grid_posters(session, settings, who, str(request.base_url),
                                             code))


@router.get("/public/report", response_class=HTMLResponse,
            summary="扫码上报表单 the report form a building's QR poster opens (no login)")
def report_form(session: ReadDb, settings: AppSettings, rules: IncidentRules, b: str = "",
                k: str = ""):
    try:
        return HTMLResponse(posters.form_page(session, settings, rules, b, k))
    except posters.FormError as exc:
        return HTMLResponse(posters.message_page("无法打开", "Cannot open", exc.zh, exc.en,
                                                 "error"), status_code=exc.status)


@router.post("/public/report", response_class=HTMLResponse, status_code=201,
             summary="扫码上报 a report sent from a building's form (channel qr_poster)")
def send_report(request: Request, session: WriteDb, settings: AppSettings,
                rules: IncidentRules, grids: Grids, b: str = Form(""), k: str = Form(""),
                category: str = Form(""), description: str = Form(""), name: str = Form(""),
                phone: str = Form("")):
    fields = {"b": b, "k": k, "category": category, "description": description, "name": name,
              "phone": phone}
    address = request.client.host if request.client else "unknown"
    try:
        page = posters.submit(session, settings, rules, grids, _limits(request), fields,
                              address)
    except posters.FormError as exc:
        session.rollback()
        return HTMLResponse(posters.message_page("未能提交", "Not sent", exc.zh, exc.en,
                                                 "error"), status_code=exc.status)
    return HTMLResponse(page, status_code=201)
