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
    ROOM_CREATED = "room-created"
    ROOM_MEMBER_KICKED = "room-member-kicked"
    ROOM_MEMBER_MUTED = "room-member-muted"
    ROOM_MESSAGE_REMOVED = "room-message-removed"
    ROOM_ROLE_CHANGED = "room-role-changed"
    SESSION_REVOKED = "session-revoked"

    def __str__(self) -> str:
        return str(self.value)
