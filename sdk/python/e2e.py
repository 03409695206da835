"""The Python SDK against a running Veza (API and worker): register, log in, upload an image with
an Idempotency-Key (twice: the retry is a replay), wait for its job, read the item and download a
thumbnail from its signed URL with no header, read a problem — all through the generated client.
Prints one JSON report; exits non-zero on the first thing that does not hold.

    PYTHONPATH=sdk/python/veza-client python3 sdk/python/e2e.py BASE_URL IMAGE_FILE
"""

import json
import sys
import time
import uuid

import httpx
from veza_client import AuthenticatedClient, Client
from veza_client.api.auth import get_me, login, register
from veza_client.api.jobs import get_job
from veza_client.api.media import get_media, upload_media
from veza_client.models import AccessToken, Job, JobState, LoginRequest, MediaItem, Problem, RegisterRequest, UploadAccepted
from veza_client.types import File


def must(value, kind, what):
    if not isinstance(value, kind):
        raise SystemExit(f"{what} failed: {value!r}")
    return value


def main():
    base_url, image_path = sys.argv[1:3]
    anonymous = Client(base_url=base_url)
    email, password = "python-sdk@example.com", "a password for the python sdk"
    registered = register.sync_detailed(client=anonymous, body=RegisterRequest(email=email, password=password))
    if registered.status_code != 201:
        raise SystemExit(f"register failed: {registered.status_code} {registered.content!r}")
    duplicate = register.sync_detailed(client=anonymous, body=RegisterRequest(email=email, password=password))
    tokens = must(login.sync(client=anonymous, body=LoginRequest(email=email, password=password)), AccessToken, "login")

    veza = AuthenticatedClient(base_url=base_url, token=tokens.access_token)
    me = get_me.sync(client=veza)
    with open(image_path, "rb") as f:
        image = f.read()
    key = f"python-sdk-{uuid.uuid4()}"

    def upload():
        return upload_media.sync_detailed(
            client=veza, body=File(payload=image), filename="picture.png", idempotency_key=key
        )

    first, retry = upload(), upload()
    accepted = must(first.parsed, UploadAccepted, "upload")
    replayed = must(retry.parsed, UploadAccepted, "retried upload")

    job = None
    for _ in range(600):
        job = must(get_job.sync(client=veza, id=accepted.job_ids[0]), Job, "get job")
        if job.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED):
            break
        time.sleep(0.1)
    media = must(get_media.sync(client=veza, id=accepted.media_id), MediaItem, "get media")
    thumbnails = [output for output in media.outputs if output.kind == "thumbnail"]
    # A signed URL plays with no Authorization header: a plain HTTP client, not the SDK's.
    thumbnail = httpx.get(httpx.URL(base_url).join(thumbnails[0].signed_url)) if thumbnails else None
    missing = get_media.sync_detailed(client=veza, id=uuid.UUID("00000000-0000-7000-8000-000000000000"))
    missing_problem = missing.parsed if isinstance(missing.parsed, Problem) else None
    duplicate_problem = duplicate.parsed if isinstance(duplicate.parsed, Problem) else None

    print(
        json.dumps(
            {
                "duplicate": {"status": duplicate.status_code, "code": duplicate_problem and duplicate_problem.code},
                "me": me.email if me else None,
                "replay": {
                    "status": retry.status_code,
                    "replayed": retry.headers.get("idempotent-replayed"),
                    "same_media": replayed.media_id == accepted.media_id,
                },
                "job": {"id": str(job.id), "state": job.state.value, "kind": job.kind},
                "media": {"id": str(media.id), "status": media.status, "thumbnails": len(thumbnails)},
                "thumbnail": {
                    "status": thumbnail.status_code if thumbnail else None,
                    "contentType": thumbnail.headers.get("content-type") if thumbnail else None,
                    "bytes": len(thumbnail.content) if thumbnail else 0,
                },
                "missing": {"status": missing.status_code, "code": missing_problem and missing_problem.code},
            }
        )
    )


if __name__ == "__main__":
    main()
