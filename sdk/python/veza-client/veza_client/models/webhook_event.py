from enum import StrEnum


class WebhookEvent(StrEnum):
    JOB_FAILED = "job.failed"
    JOB_SUCCEEDED = "job.succeeded"
    MEDIA_FAILED = "media.failed"
    MEDIA_READY = "media.ready"

    def __str__(self) -> str:
        return str(self.value)
