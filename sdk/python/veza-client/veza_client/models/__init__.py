"""Contains all the data models used in inputs/outputs"""

from .access_token import AccessToken
from .account_deletion import AccountDeletion
from .admin_job import AdminJob
from .admin_job_page import AdminJobPage
from .audio_info import AudioInfo
from .audio_tags import AudioTags
from .audit_action import AuditAction
from .audit_event import AuditEvent
from .audit_page import AuditPage
from .canaries import Canaries
from .change_password_request import ChangePasswordRequest
from .chat_message import ChatMessage
from .chat_message_page import ChatMessagePage
from .delete_account_request import DeleteAccountRequest
from .deletion_accepted import DeletionAccepted
from .done import Done
from .email_preferences import EmailPreferences
from .email_queued import EmailQueued
from .health_status import HealthStatus
from .job import Job
from .job_error import JobError
from .job_state import JobState
from .live_event import LiveEvent
from .live_event_data import LiveEventData
from .live_event_error import LiveEventError
from .login_request import LoginRequest
from .media_error import MediaError
from .media_item import MediaItem
from .media_page import MediaPage
from .media_shared import MediaShared
from .member_role import MemberRole
from .member_update import MemberUpdate
from .new_member import NewMember
from .new_room import NewRoom
from .new_webhook import NewWebhook
from .output_file import OutputFile
from .problem import Problem
from .queue import Queue
from .queue_name import QueueName
from .redelivery import Redelivery
from .refresh_request import RefreshRequest
from .register_request import RegisterRequest
from .registered import Registered
from .reprocessing import Reprocessing
from .reset_confirm import ResetConfirm
from .reset_form import ResetForm
from .reset_request import ResetRequest
from .room_audit import RoomAudit
from .room_list import RoomList
from .room_member import RoomMember
from .room_members import RoomMembers
from .room_view import RoomView
from .room_visibility import RoomVisibility
from .session import Session
from .session_list import SessionList
from .shared_media import SharedMedia
from .storage_usage import StorageUsage
from .token_request import TokenRequest
from .upload_accepted import UploadAccepted
from .user import User
from .verify_form import VerifyForm
from .webhook import Webhook
from .webhook_created import WebhookCreated
from .webhook_delivery import WebhookDelivery
from .webhook_event import WebhookEvent
from .worker import Worker

__all__ = (
    "AccessToken",
    "AccountDeletion",
    "AdminJob",
    "AdminJobPage",
    "AudioInfo",
    "AudioTags",
    "AuditAction",
    "AuditEvent",
    "AuditPage",
    "Canaries",
    "ChangePasswordRequest",
    "ChatMessage",
    "ChatMessagePage",
    "DeleteAccountRequest",
    "DeletionAccepted",
    "Done",
    "EmailPreferences",
    "EmailQueued",
    "HealthStatus",
    "Job",
    "JobError",
    "JobState",
    "LiveEvent",
    "LiveEventData",
    "LiveEventError",
    "LoginRequest",
    "MediaError",
    "MediaItem",
    "MediaPage",
    "MediaShared",
    "MemberRole",
    "MemberUpdate",
    "NewMember",
    "NewRoom",
    "NewWebhook",
    "OutputFile",
    "Problem",
    "Queue",
    "QueueName",
    "Redelivery",
    "RefreshRequest",
    "Registered",
    "RegisterRequest",
    "Reprocessing",
    "ResetConfirm",
    "ResetForm",
    "ResetRequest",
    "RoomAudit",
    "RoomList",
    "RoomMember",
    "RoomMembers",
    "RoomView",
    "RoomVisibility",
    "Session",
    "SessionList",
    "SharedMedia",
    "StorageUsage",
    "TokenRequest",
    "UploadAccepted",
    "User",
    "VerifyForm",
    "Webhook",
    "WebhookCreated",
    "WebhookDelivery",
    "WebhookEvent",
    "Worker",
)
