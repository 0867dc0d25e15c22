"""The plan editor (issue #16): a draft plan's state, edits (move, split, merge, lock,
unlock), undo and redo, re-balancing the unlocked grids (a job), the diff against the active
plan (JSON and CSV) and copying a plan into a new draft (api.services.editor). Admins and
planners; only draft plans are edited."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from fastapi.responses import HTMLResponse

from api.auth import PlansEdit
from api.deps import AppSettings, Basemaps, ReadDb, WriteDb, job_accepted
from api.errors import ApiError
from api.geojson import geojson_response
from api.routers.maps import assets_ready
from api.schemas import (
    DraftIn,
    EditIn,
    EditorDiff,
    EditorState,
    EditOut,
    EditRecord,
    JobOut,
    PlanOut,
    RebalanceIn,
    VersionIn,
)
from api.services import editor
from api.services.editor import EditorCache

router = APIRouter(tags=["editor 方案编辑"])


def _cache(request: Request) -> EditorCache:
    state = request.app.state
    if getattr(state, "editor_cache", None) is None:
        state.editor_cache = EditorCache()
    return state.editor_cache


def _timed(response: Response, work: Callable[[], Any]) -> Any:
    """``work()``, its time on the service in a ``Server-Timing`` header: ``edit`` (wall
    clock) and ``cpu`` (this thread's CPU), milliseconds (bench/editor_bench.py reads them)."""
    wall, cpu = time.perf_counter(), time.thread_time()

    def timing() -> str:
        return (f"edit;dur={(time.perf_counter() - wall) * 1000:.2f}, "
                f"cpu;dur={(time.thread_time() - cpu) * 1000:.2f}")

    try:
        out = work()
    except ApiError as exc:  # a refusal or a conflict is timed too
        exc.headers = {**(exc.headers or {}), "Server-Timing": timing()}
        raise
    response.headers["Server-Timing"] = timing()
    return out


@router.post("/plans/{plan_id}/draft", status_code=201, response_model=PlanOut,
             summary="复制为草稿 a new draft plan copied from this plan")
def copy_to_draft(plan_id: int, request: Request, session: WriteDb, who: PlansEdit,
                  settings: AppSettings, basemaps: Basemaps, background: BackgroundTasks,
                  body: DraftIn | None = None):
    row = editor.copy_to_draft(session, plan_id, body.name if body else None, settings)
    # the adjacency the edits need and the editor's page, made once the answer is sent
    background.add_task(editor.prepare, request.app.state.db, settings, _cache(request), row.id,
                        basemaps)
    return row


@router.get("/plans/{plan_id}/editor", response_model=EditorState,
            summary="编辑状态 the draft: grids with figures, buildings with grids, version")
def state(plan_id: int, request: Request, session: ReadDb, who: PlansEdit,
          settings: AppSettings):
    loaded = editor.load(session, settings, _cache(request), plan_id)
    return editor.state_out(session, loaded)


@router.post("/plans/{plan_id}/editor/edits", response_model=EditOut,
             summary="编辑 move, split, merge, lock or unlock (409 on a stale version)")
def edit(plan_id: int, body: EditIn, request: Request, response: Response, session: WriteDb,
         who: PlansEdit, settings: AppSettings):
    return _timed(response, lambda: editor.edit(
        session, settings, _cache(request), plan_id, body.version, body.kind, who.token_id,
        body.buildings, body.grid, body.other, body.grids))


@router.get("/plans/{plan_id}/editor/grids", response_class=Response,
            summary="网格边界 the draft's grid polygons, GeoJSON (light, for the page)")
def grid_polygons(plan_id: int, request: Request, session: ReadDb, who: PlansEdit):
    return geojson_response(editor.grid_features(session, _cache(request), plan_id))


@router.get("/plans/{plan_id}/editor/footprints", response_class=Response,
            summary="楼栋轮廓 the draft's building footprints, packed for the editor page")
def footprints(plan_id: int, request: Request, session: ReadDb, who: PlansEdit,
               settings: AppSettings):
    return Response(editor.footprints(session, settings, _cache(request), plan_id),
                    media_type="application/json")


@router.get("/plans/{plan_id}/editor/edits", response_model=list[EditRecord],
            summary="编辑记录 the draft's edits in order")
def history(plan_id: int, session: ReadDb, who: PlansEdit):
    return editor.history(session, plan_id)


@router.post("/plans/{plan_id}/editor/undo", response_model=EditOut, summary="撤销 undo")
def undo(plan_id: int, body: VersionIn, request: Request, response: Response,
         session: WriteDb, who: PlansEdit, settings: AppSettings):
    return _timed(response, lambda: editor.undo(
        session, settings, _cache(request), plan_id, body.version, who.token_id))


@router.post("/plans/{plan_id}/editor/redo", response_model=EditOut, summary="重做 redo")
def redo(plan_id: int, body: VersionIn, request: Request, response: Response,
         session: WriteDb, who: PlansEdit, settings: AppSettings):
    return _timed(response, lambda: editor.undo(
        session, settings, _cache(request), plan_id, body.version, who.token_id, redo=True))


@router.post("/plans/{plan_id}/editor/rebalance", status_code=202, response_model=JobOut,
             summary="重新平衡 re-balance the unlocked grids (a job; one undoable edit)")
def rebalance(plan_id: int, body: RebalanceIn, request: Request, response: Response,
              session: ReadDb, who: PlansEdit):
    job = editor.start_rebalance(session, request.app.state.jobs, plan_id, body.version,
                                 body.seed, who.token_id)
    return job_accepted(response, job)


@router.get("/plans/{plan_id}/editor/diff", response_model=EditorDiff,
            summary="与启用方案对比 the draft against the active plan")
def diff(plan_id: int, session: ReadDb, who: PlansEdit):
    return editor.diff_with_active(session, plan_id)


@router.get("/plans/{plan_id}/editor/diff.csv", summary="对比导出 CSV the diff for the notice")
def diff_csv(plan_id: int, session: ReadDb, who: PlansEdit):
    return Response(editor.diff_csv(session, plan_id), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition":
                             f'attachment; filename="plan-{plan_id}-changes.csv"'})


@router.get("/maps/editor", response_class=HTMLResponse, tags=["maps 地图"],
            summary="方案编辑页面 the plan editor page of a draft plan")
def editor_page(request: Request, session: ReadDb, who: PlansEdit, basemaps: Basemaps,
                settings: AppSettings,
                plan: int = Query(description="草稿方案 id the draft plan"),
                lang: Literal["zh", "en"] = Query("zh", description="语言 language")):
    assets_ready(request)
    return HTMLResponse(editor.editor_page(session, settings, _cache(request), plan, lang,
                                           basemaps))
