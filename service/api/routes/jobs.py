"""Background jobs: GET /v1/jobs, /v1/jobs/{id}, cancel; batch jobs on uploaded archives (/v1/batch-jobs)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import FileResponse

from sqmy.core.config import EngineName
from sqmy.service.api.deps import Editor, StateDep
from sqmy.service.errors import BODY, KEYED, ErrorType, SqmyError, error_responses
from sqmy.service.responses import JSONResponse

router = APIRouter(prefix="/v1", tags=["jobs"])
UPLOAD_FORMATS = (".jsonl", ".ndjson", ".csv", ".xlsx", ".parquet")
CHUNK = 1 << 20
MEDIA_TYPES = {".csv": "text/csv; charset=utf-8", ".jsonl": "application/x-ndjson", ".ndjson": "application/x-ndjson",
               ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               ".parquet": "application/vnd.apache.parquet"}
DOWNLOAD = error_responses(*KEYED, 404, 422) | {200: {
    "description": "结果文件（格式同上传文件或 output_format）",
    "content": {media: {"schema": {"type": "string", "format": "binary"}}
                for media in dict.fromkeys(MEDIA_TYPES.values())},
}}


def _job(state: Any, job_id: str, kind: str | None = None) -> dict[str, Any]:
    job = state.jobs.get(job_id)
    if job is None or (kind and job["kind"] != kind):
        raise SqmyError(ErrorType.not_found, f"任务 {job_id} 不存在", "id")
    return job


@router.get("/jobs", responses=error_responses(*KEYED, 422), operation_id="jobs-list")
def list_jobs(state: StateDep, _principal: Editor, kind: Literal["retrain", "batch"] | None = None,
              limit: int = Query(default=50, ge=1, le=500)) -> dict[str, Any]:
    """最近的后台任务（训练、批量分类），新的在前。"""
    jobs = state.jobs.recent(kind, limit)
    return {"data": jobs, "count": len(jobs)}


@router.get("/jobs/{job_id}", responses=error_responses(*KEYED, 404, 422), operation_id="jobs-get")
def get_job(job_id: str, state: StateDep, _principal: Editor) -> dict[str, Any]:
    """任务状态、进度（已处理/总数、速率、预计剩余时间）与结果。"""
    return _job(state, job_id)


@router.post("/jobs/{job_id}/cancel", responses=error_responses(*KEYED, 403, 404, 422), operation_id="jobs-cancel")
def cancel_job(job_id: str, state: StateDep, principal: Editor) -> dict[str, Any]:
    """取消排队中或运行中的任务（训练任务需要训练员角色）。"""
    job = _job(state, job_id)
    if job["kind"] == "retrain" and not principal.allows("trainer"):
        raise SqmyError(ErrorType.forbidden, "权限不足：取消训练任务需要“训练员”或更高角色")
    return state.jobs.cancel(job_id, principal.name) or job


@router.post("/batch-jobs", status_code=202, responses=error_responses(*KEYED, *BODY), operation_id="jobs-batch-create")
async def create_batch_job(
    state: StateDep, principal: Editor,
    file: Annotated[UploadFile, File(description="CSV / XLSX / JSONL / Parquet 文件")],
    engine: Annotated[EngineName, Form()] = EngineName.AUTO,
    id_col: Annotated[str | None, Form()] = None, title_col: Annotated[str | None, Form()] = None,
    text_col: Annotated[str | None, Form()] = None,
    output_format: Annotated[Literal["same", "jsonl", "csv", "xlsx", "parquet"], Form()] = "same",
    index: Annotated[bool, Form(description="结果加入相似留言索引，汇总中列出最大的建议并案组")] = False,
) -> JSONResponse:
    """上传档案文件并在后台重新分类；进度见 GET /v1/batch-jobs/{id}，完成后下载结果。

    CSV / XLSX 结果供人阅读：预测列用中文列名（预测分类、预测分类路径、分类置信度、预测主办单位、预测协办单位、引擎、
    模型版本、需复核、与原标签不同），是/否 代替 True/False，CSV 为带 BOM 的 UTF-8（Excel 可直接打开）；
    JSONL / Parquet 结果的字段名不变（topic、topic_path、departments…）。没有一行能够分类（如找不到正文列）时任务失败，
    error 说明原因。"""
    suffix = Path(file.filename or "").suffix.lower()
    if suffix not in UPLOAD_FORMATS:
        raise SqmyError(ErrorType.validation, f"字段 file：不支持的文件类型 {suffix or '（无扩展名）'}，"
                        f"可用：{'、'.join(UPLOAD_FORMATS)}", "file")
    out_suffix = suffix if output_format == "same" else f".{output_format}"
    job_id = state.jobs.new_id("batch")
    directory = state.jobs.directory(job_id)
    try:
        await _save_upload(file, directory / f"input{suffix}", state.settings.MAX_UPLOAD_MB)
    except SqmyError:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    params = {"filename": file.filename, "engine": engine, "id_col": id_col, "title_col": title_col,
              "text_col": text_col, "output": f"result{out_suffix}", "index": index}

    def argv(directory: Path) -> list[str]:
        args = ["batch", str(directory / f"input{suffix}"), str(directory / f"result{out_suffix}"),
                "--engine", str(engine), "--progress-file", str(directory / "progress.json"),
                "--summary", str(directory / "summary.json"), "--resume", "--headers", "zh"]
        for flag, value in (("--id-col", id_col), ("--title-col", title_col), ("--text-col", text_col)):
            if value:
                args += [flag, value]
        return args + (["--index"] if index else [])

    job = state.jobs.submit("batch", params, argv, principal.name, job_id=job_id)
    return JSONResponse(job, status_code=202)


async def _save_upload(file: UploadFile, target: Path, limit_mb: int) -> None:
    """Stream the upload to disk (never whole in memory), enforcing the size limit."""
    size = 0
    with open(target, "wb") as handle:
        while chunk := await file.read(CHUNK):
            size += len(chunk)
            if size > limit_mb << 20:
                raise SqmyError(ErrorType.too_large, f"字段 file：超过上限 {limit_mb} MB", "file")
            handle.write(chunk)
    if size == 0:
        raise SqmyError(ErrorType.validation, "字段 file：文件为空", "file")


@router.get("/batch-jobs/{job_id}", responses=error_responses(*KEYED, 404, 422), operation_id="jobs-batch-get")
def get_batch_job(job_id: str, state: StateDep, _principal: Editor) -> dict[str, Any]:
    """批量任务的状态与进度。"""
    return _job(state, job_id, "batch")


def _download(state: Any, job_id: str, name: str, label: str) -> FileResponse:
    job = _job(state, job_id, "batch")
    path = state.jobs.directory(job_id) / name
    if job["status"] != "succeeded" or not path.is_file():
        raise SqmyError(ErrorType.not_found, f"任务 {job_id} 的{label}尚未生成（状态：{job['status']}）", "id")
    stem = Path(job["params"].get("filename") or "archive").stem
    suffix = Path(name).suffix if label == "结果" else ".jsonl"
    return FileResponse(path, filename=f"{stem}-{label}{suffix}", media_type=MEDIA_TYPES[suffix])


@router.get("/batch-jobs/{job_id}/result", responses=DOWNLOAD,
            response_class=FileResponse, operation_id="jobs-batch-result")
def batch_result(job_id: str, state: StateDep, _principal: Editor) -> FileResponse:
    """下载分类结果（原有列保留，新增预测列）。"""
    job = _job(state, job_id, "batch")
    return _download(state, job_id, job["params"]["output"], "结果")


@router.get("/batch-jobs/{job_id}/errors", responses=DOWNLOAD,
            response_class=FileResponse, operation_id="jobs-batch-errors")
def batch_errors(job_id: str, state: StateDep, _principal: Editor) -> FileResponse:
    """下载无法分类的行（行号与原因）。"""
    job = _job(state, job_id, "batch")
    return _download(state, job_id, job["params"]["output"] + ".errors.jsonl", "错误")

