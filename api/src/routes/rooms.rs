//! Chat rooms over HTTP: create, list, add members, read the history (docs/realtime.md). Live
//! messages go over the socket (`/v1/ws`); the history is where a client starts and where it
//! goes back to when it fell too far behind.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::MaybeUndefined,
};
use uuid::Uuid;

use super::ApiTags;
use crate::{
    auth::BearerAuth,
    chat::store::{self, Role, RoomError},
    error::ApiError,
    middleware::client::Client,
    routes::audit::AuditEvent,
    state::AppState,
};

/// Chat room operations.
pub struct RoomsApi;

/// Who may join a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum RoomVisibility {
    /// Anyone signed in may join.
    Public,
    /// Members are added by an owner or moderator.
    Private,
}

/// A new group room.
#[derive(Debug, Object)]
pub struct NewRoom {
    /// Its name.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
    /// Who may join (default private).
    pub visibility: Option<RoomVisibility>,
}

/// A room, as one of its members sees it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RoomView {
    /// Id.
    pub id: Uuid,
    /// `group` or `direct`.
    pub kind: String,
    /// Name (group rooms).
    pub name: Option<String>,
    /// `public` or `private`.
    pub visibility: String,
    /// Your role: `owner`, `moderator` or `member`.
    pub role: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The number of its latest event: subscribe with `since` set to it to get what follows.
    pub last_seq: i64,
}

/// The rooms one is a member of.
#[derive(Debug, Object)]
pub struct RoomList {
    /// Newest first.
    pub items: Vec<RoomView>,
}

/// Someone to add to a room.
#[derive(Debug, Object)]
pub struct NewMember {
    /// The account: yourself to join a public room, anyone when you own or moderate the room.
    pub user_id: Uuid,
}

/// A member of a room.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RoomMember {
    /// The account.
    pub user_id: Uuid,
    /// `owner`, `moderator` or `member`.
    pub role: String,
    /// Muted (may read, may not send) until then.
    pub muted_until: Option<DateTime<Utc>>,
    /// The last event number its clients reported delivered (receipts).
    pub delivered_seq: i64,
    /// The last event number its clients reported read.
    pub read_seq: i64,
    /// When it joined.
    pub joined_at: DateTime<Utc>,
    /// Connected now (to any API instance); changes come as `presence` frames on the socket.
    pub online: bool,
}

/// A room's members.
#[derive(Debug, Object)]
pub struct RoomMembers {
    /// Oldest first.
    pub items: Vec<RoomMember>,
}

/// A message of a room's history.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ChatMessage {
    /// Id.
    pub id: Uuid,
    /// Its event number in the room.
    pub seq: i64,
    /// Who sent it (absent once the account is deleted).
    pub sender_id: Option<Uuid>,
    /// The text (absent once deleted).
    pub body: Option<String>,
    /// When it was sent.
    pub created_at: DateTime<Utc>,
    /// When it was last edited.
    pub edited_at: Option<DateTime<Utc>>,
    /// Whether it was deleted.
    pub deleted: bool,
}

/// A page of a room's history.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ChatMessagePage {
    /// Newest first.
    pub items: Vec<ChatMessage>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

/// Answer of a room's creation.
#[derive(Debug, ApiResponse)]
pub enum RoomCreated {
    /// Created; you are its owner.
    #[oai(status = 201)]
    Created(Json<RoomView>),
}

/// A role one can be given (`owner` stays with the room's creator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum MemberRole {
    /// May add, kick and mute members and delete their messages.
    Moderator,
    /// May read and send.
    Member,
}

/// A change to a member: a role (owners only), a mute (owners and moderators), or both.
#[derive(Debug, Object)]
pub struct MemberUpdate {
    /// The new role.
    pub role: Option<MemberRole>,
    /// Muted (may read, may not send) until then; `null` lifts a mute.
    pub muted_until: MaybeUndefined<DateTime<Utc>>,
}

/// Answer of a member's removal or change.
#[derive(Debug, ApiResponse)]
pub enum MemberChanged {
    /// Done.
    #[oai(status = 204)]
    Done,
}

/// A media item to share in a room.
#[derive(Debug, Object)]
pub struct SharedMedia {
    /// One of your media items.
    pub media_id: Uuid,
}

/// A media item shared.
#[derive(Debug, Object)]
pub struct MediaShared {
    /// The room.
    pub room_id: Uuid,
    /// The item.
    pub media_id: Uuid,
    /// Its `media.shared` event.
    pub seq: i64,
}

/// How long the playback URLs a room member is handed for a shared item work: unsharing stops
/// new URLs at once, and the old ones within this.
const SHARED_URL_TTL: std::time::Duration = std::time::Duration::from_secs(300);

fn shared_media_error(err: store::MessageError) -> ApiError {
    match err {
        store::MessageError::Room(RoomError::Db(err)) => err.into(),
        store::MessageError::Room(_) => room_not_found(),
        store::MessageError::NotFound => {
            ApiError::not_found("media-not-found", "no such media item (of yours, or shared here)")
        }
        store::MessageError::NotAuthor => ApiError::forbidden(
            "room-role-required",
            "only the member who shared it, the owner or a moderator may unshare it",
        ),
    }
}

/// A room's audit events.
#[derive(Debug, Object)]
pub struct RoomAudit {
    /// Newest first.
    pub items: Vec<AuditEvent>,
}

fn member_error(err: RoomError) -> ApiError {
    match err {
        RoomError::NotFound => room_not_found(),
        RoomError::NoSuchUser => ApiError::not_found("member-not-found", "no such member of this room"),
        RoomError::Forbidden | RoomError::Muted(_) => ApiError::forbidden(
            "room-role-required",
            "your role in this room does not allow this (owners act on anyone, moderators on members)",
        ),
        RoomError::Db(err) => err.into(),
    }
}

fn room_not_found() -> ApiError {
    ApiError::not_found("room-not-found", "no such room, or you are not a member")
}

fn view(room: store::Room, role: Role) -> RoomView {
    RoomView {
        id: room.id,
        kind: room.kind,
        name: room.name,
        visibility: room.visibility,
        role: role.as_str().to_owned(),
        created_at: room.created_at,
        last_seq: room.last_seq,
    }
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Chat")]
impl RoomsApi {
    /// Create a group room; you are its owner.
    #[oai(path = "/rooms", method = "post", operation_id = "createRoom")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<NewRoom>,
    ) -> Result<RoomCreated, ApiError> {
        let name = body.name.trim();
        if name.is_empty() {
            return Err(ApiError::bad_request(
                "invalid-room-name",
                "a room's name cannot be blank",
            ));
        }
        let public = body.visibility == Some(RoomVisibility::Public);
        let room = store::create_room(&state.pool, auth.0.id, name, public).await?;
        tracing::info!(room_id = %room.id, "room created");
        Ok(RoomCreated::Created(Json(view(room, Role::Owner))))
    }

    /// The rooms you are a member of.
    #[oai(path = "/rooms", method = "get", operation_id = "listRooms")]
    async fn list(&self, state: Data<&AppState>, auth: BearerAuth) -> Result<Json<RoomList>, ApiError> {
        let rooms = store::rooms_of(&state.pool, auth.0.id).await?;
        let items = rooms.into_iter().map(|(room, role)| view(room, role)).collect();
        Ok(Json(RoomList { items }))
    }

    /// Add a member: yourself to a public room, or anyone to a room you own or moderate.
    /// Adding a member twice changes nothing.
    #[oai(
        path = "/rooms/:room_id/members",
        method = "post",
        operation_id = "addRoomMember"
    )]
    async fn add_member(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        room_id: Path<Uuid>,
        body: Json<NewMember>,
    ) -> Result<Json<RoomView>, ApiError> {
        let me = auth.0.id;
        match store::add_member(&state.pool, room_id.0, me, body.user_id).await {
            Ok(_) => {}
            Err(RoomError::NotFound) => return Err(room_not_found()),
            Err(RoomError::Forbidden | RoomError::Muted(_)) => {
                return Err(ApiError::forbidden(
                    "room-role-required",
                    "only the room's owner or a moderator may add others",
                ));
            }
            Err(RoomError::NoSuchUser) => {
                return Err(ApiError::not_found("user-not-found", "no such account"));
            }
            Err(RoomError::Db(err)) => return Err(err.into()),
        }
        // The answer is the room as the caller sees it.
        let room = store::room_of_member(&state.pool, room_id.0, me)
            .await?
            .ok_or_else(room_not_found)?;
        let role = store::role(&state.pool, room_id.0, me)
            .await?
            .ok_or_else(room_not_found)?;
        Ok(Json(view(room, role)))
    }

    /// A room's members, with their roles, receipts and whether they are online: members only.
    #[oai(
        path = "/rooms/:room_id/members",
        method = "get",
        operation_id = "listRoomMembers"
    )]
    async fn members(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        room_id: Path<Uuid>,
    ) -> Result<Json<RoomMembers>, ApiError> {
        let rows = store::members(&state.pool, room_id.0, auth.0.id)
            .await?
            .ok_or_else(room_not_found)?;
        let items = rows
            .into_iter()
            .map(|m| RoomMember {
                user_id: m.user_id,
                role: m.role,
                muted_until: m.muted_until,
                delivered_seq: m.last_delivered_seq,
                read_seq: m.last_read_seq,
                joined_at: m.joined_at,
                online: m.online,
            })
            .collect();
        Ok(Json(RoomMembers { items }))
    }

    /// Leave a room (your own id), or remove a member as its owner or a moderator (audited).
    #[oai(
        path = "/rooms/:room_id/members/:user_id",
        method = "delete",
        operation_id = "removeRoomMember"
    )]
    async fn remove_member(
        &self,
        state: Data<&AppState>,
        client: Data<&Client>,
        auth: BearerAuth,
        room_id: Path<Uuid>,
        user_id: Path<Uuid>,
    ) -> Result<MemberChanged, ApiError> {
        store::remove_member(
            &state.pool,
            room_id.0,
            auth.0.id,
            user_id.0,
            Some(client.address()),
        )
        .await
        .map_err(member_error)?;
        Ok(MemberChanged::Done)
    }

    /// Change a member's role (owners) or mute them (owners and moderators); audited.
    #[oai(
        path = "/rooms/:room_id/members/:user_id",
        method = "patch",
        operation_id = "updateRoomMember"
    )]
    async fn update_member(
        &self,
        state: Data<&AppState>,
        client: Data<&Client>,
        auth: BearerAuth,
        room_id: Path<Uuid>,
        user_id: Path<Uuid>,
        body: Json<MemberUpdate>,
    ) -> Result<MemberChanged, ApiError> {
        let change = store::MemberChange {
            role: body.role.map(|role| match role {
                MemberRole::Moderator => Role::Moderator,
                MemberRole::Member => Role::Member,
            }),
            muted_until: match &body.muted_until {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(until) => Some(Some(*until)),
            },
        };
        store::change_member(
            &state.pool,
            room_id.0,
            auth.0.id,
            user_id.0,
            change,
            Some(client.address()),
        )
        .await
        .map_err(member_error)?;
        Ok(MemberChanged::Done)
    }

    /// A room's audit events (created, members kicked, muted or given a role, messages removed
    /// by a moderator), for its owner.
    #[oai(
        path = "/rooms/:room_id/audit",
        method = "get",
        operation_id = "listRoomAudit"
    )]
    async fn audit(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        room_id: Path<Uuid>,
    ) -> Result<Json<RoomAudit>, ApiError> {
        match store::role(&state.pool, room_id.0, auth.0.id).await? {
            None => return Err(room_not_found()),
            Some(Role::Owner) => {}
            Some(_) => {
                return Err(ApiError::forbidden(
                    "room-role-required",
                    "only the room's owner reads its audit events",
                ));
            }
        }
        let rows = store::room_audit(&state.pool, room_id.0, 200).await?;
        let items = rows.into_iter().map(AuditEvent::from).collect();
        Ok(Json(RoomAudit { items }))
    }

    /// Share one of your media items in a room: its members may then play it and see its
    /// thumbnails and waveform, until it is unshared or deleted.
    #[oai(
        path = "/rooms/:room_id/media",
        method = "post",
        operation_id = "shareRoomMedia"
    )]
    async fn share_media(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        room_id: Path<Uuid>,
        body: Json<SharedMedia>,
    ) -> Result<Json<MediaShared>, ApiError> {
        let seq = store::share_media(&state.pool, room_id.0, auth.0.id, body.media_id)
            .await
            .map_err(shared_media_error)?;
        Ok(Json(MediaShared {
            room_id: room_id.0,
            media_id: body.media_id,
            seq,
        }))
    }

    /// Stop sharing a media item in a room (its sharer, the owner or a moderator). Playback
    /// URLs already handed out stop working within 5 minutes.
    #[oai(
        path = "/rooms/:room_id/media/:media_id",
        method = "delete",
        operation_id = "unshareRoomMedia"
    )]
    async fn unshare_media(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        room_id: Path<Uuid>,
        media_id: Path<Uuid>,
    ) -> Result<MemberChanged, ApiError> {
        store::unshare_media(&state.pool, room_id.0, auth.0.id, media_id.0)
            .await
            .map_err(shared_media_error)?;
        Ok(MemberChanged::Done)
    }

    /// A media item shared in a room, for its members: its outputs with playback URLs that work
    /// for 5 minutes.
    #[oai(
        path = "/rooms/:room_id/media/:media_id",
        method = "get",
        operation_id = "getRoomMedia"
    )]
    async fn shared_media(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        room_id: Path<Uuid>,
        media_id: Path<Uuid>,
    ) -> Result<Json<crate::media_view::MediaItem>, ApiError> {
        let not_found = || ApiError::not_found("media-not-found", "no such media item shared in this room");
        let owner = store::shared_media_owner(&state.pool, room_id.0, auth.0.id, media_id.0)
            .await?
            .ok_or_else(not_found)?;
        let row = veza_jobs::media::find(&state.pool, media_id.0, owner)
            .await?
            .ok_or_else(not_found)?;
        let ttl = SHARED_URL_TTL.min(state.playback_url_ttl);
        let item = super::media::media_items_signed_for(&state, vec![row], ttl)
            .await?
            .pop()
            .ok_or_else(not_found)?;
        Ok(Json(item))
    }

    /// Open the direct conversation with another account (created on first use; the same
    /// room every time after).
    #[oai(path = "/direct/:user_id", method = "put", operation_id = "openDirectRoom")]
    async fn direct(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        user_id: Path<Uuid>,
    ) -> Result<Json<RoomView>, ApiError> {
        let room = store::direct_room(&state.pool, auth.0.id, user_id.0)
            .await
            .map_err(|err| match err {
                RoomError::NoSuchUser => {
                    ApiError::not_found("user-not-found", "no such account (or yourself)")
                }
                other => member_error(other),
            })?;
        Ok(Json(view(room, Role::Member)))
    }

    /// A room's messages, newest first, a page at a time.
    #[oai(
        path = "/rooms/:room_id/messages",
        method = "get",
        operation_id = "listRoomMessages"
    )]
    async fn messages(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        room_id: Path<Uuid>,
        /// Only messages numbered below this (the previous page's `next_before`).
        before: Query<Option<i64>>,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
    ) -> Result<Json<ChatMessagePage>, ApiError> {
        if store::role(&state.pool, room_id.0, auth.0.id).await?.is_none() {
            return Err(room_not_found());
        }
        let limit = limit.0.unwrap_or(50);
        let rows = store::history(&state.pool, room_id.0, before.0, limit).await?;
        let next_before = (rows.len() as i64 == limit)
            .then(|| rows.last().map(|m| m.seq))
            .flatten();
        let items = rows
            .into_iter()
            .map(|m| ChatMessage {
                id: m.id,
                seq: m.seq,
                sender_id: m.sender_id,
                body: m.body,
                created_at: m.created_at,
                edited_at: m.edited_at,
                deleted: m.deleted,
            })
            .collect();
        Ok(Json(ChatMessagePage { items, next_before }))
    }
}
