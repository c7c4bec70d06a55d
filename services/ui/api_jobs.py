"""REST routes of video jobs: upload, list, get, delete (and purge), download a file."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile

from services.ui import erase
from services.ui.api_cameras import PURGE_HELP
from services.ui.api_models import JobOut, errors
from services.ui.deps import UiDep
from services.ui.job_manager import FILES, Job, UploadError

router = APIRouter()

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            }
        },
    }
}


def job_out(job: Job) -> JobOut:
    return JobOut.model_validate(job.json())


def _job(ui: UiDep, job_id: str) -> Job:
    job = ui.jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return job


@router.post("/api/jobs", status_code=202, responses=errors(400, 413, 415, 422), openapi_extra=UPLOAD_BODY)
async def create_job(request: Request, ui: UiDep) -> JobOut:
    """Multipart upload (field ``file``) of a video -> a file job; refused past the size limit (413)
    or when it is not a readable video (415)."""
    # (a body over the upload limit was refused before it was read: body_guard.BodyGuard)
    form = await request.form(max_files=1, max_fields=4)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, "send the video as multipart/form-data in a field named 'file'")
        # Starlette has spooled the part to a temporary file; save_upload copies it, counting bytes.
        chunks = iter(lambda: upload.file.read(1 << 20), b"")
        job = await run_in_threadpool(ui.jobs.save_upload, upload.filename or "video", chunks)
    except UploadError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    finally:
        await form.close()
    ui.jobs.start(job)
    return job_out(job)


@router.get("/api/jobs", responses=errors())
def list_jobs(ui: UiDep) -> list[JobOut]:
    return [job_out(job) for job in ui.jobs.all()]


@router.get("/api/jobs/{job_id}", responses=errors(404))
def get_job(job_id: str, ui: UiDep) -> JobOut:
    return job_out(_job(ui, job_id))


@router.delete("/api/jobs/{job_id}", status_code=204, responses=errors(404, 409, 502))
def delete_job(job_id: str, ui: UiDep, purge: bool = Query(False, description=PURGE_HELP)) -> Response:
    """Delete a finished job: its record, upload and outputs. With ``purge=true`` everything of its
    camera in Redis too, and Redis's files rewritten."""
    erase.erase_job(ui.jobs.store, job_id, purge)
    return Response(status_code=204)


@router.get(
    "/api/jobs/{job_id}/files/{name}",
    responses={
        200: {"description": "the file", "content": {media: {} for media in sorted(set(FILES.values()))}},
        **errors(404),
    },
)
def job_file(job_id: str, name: str, ui: UiDep) -> FileResponse:
    job = _job(ui, job_id)
    if name not in FILES:
        raise HTTPException(404, f"no file {name!r}: jobs have {', '.join(FILES)}")
    if name not in job.files():
        raise HTTPException(404, f"job {job_id} has no {name} (status {job.status})")
    return FileResponse(job.out_dir / name, media_type=FILES[name], filename=name)
