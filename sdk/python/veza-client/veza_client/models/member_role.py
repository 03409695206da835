from enum import StrEnum


class MemberRole(StrEnum):
    MEMBER = "member"
    MODERATOR = "moderator"

    def __str__(self) -> str:
        return str(self.value)
