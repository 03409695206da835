from enum import StrEnum


class AuditAction(StrEnum):
    ACCOUNT_DELETED = "account-deleted"
    ADMIN_GRANTED = "admin-granted"
    ADMIN_REVOKED = "admin-revoked"
    JOB_RETRIED = "job-retried"
    LOGIN = "login"
    LOGIN_FAILED = "login-failed"
    LOGOUT = "logout"
    MEDIA_DELETED = "media-deleted"
    PASSWORD_CHANGED = "password-changed"
    PASSWORD_RESET = "password-reset"
    QUEUE_PAUSED = "queue-paused"
    QUEUE_RESUMED = "queue-resumed"
    REFRESH_TOKEN_REUSED = "refresh-token-reused"
    SESSION_REVOKED = "session-revoked"

    def __str__(self) -> str:
        return str(self.value)
