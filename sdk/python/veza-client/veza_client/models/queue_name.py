from enum import StrEnum


class QueueName(StrEnum):
    CANARY = "canary"
    EMAIL = "email"
    ENCODE = "encode"
    FINALIZE = "finalize"
    PROBE = "probe"
    PURGE = "purge"
    SOUNDTRACK = "soundtrack"
    THUMBNAIL = "thumbnail"
    TRANSCODE = "transcode"
    WEBHOOK = "webhook"

    def __str__(self) -> str:
        return str(self.value)
