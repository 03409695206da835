//! `/healthz` (the process answers) and `/readyz` (database and storage answer too).

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::ApiTags;
use crate::state::AppState;

/// Health operations.
pub struct HealthApi;

/// Result of a health or readiness check.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HealthStatus {
    /// `ok` or `unavailable`.
    pub status: String,
    /// Whether Postgres answered (readiness only).
    pub database: Option<bool>,
    /// Whether object storage answered (readiness only).
    pub storage: Option<bool>,
}

/// Readiness answer.
#[derive(Debug, ApiResponse)]
pub enum ReadyResponse {
    /// Ready to serve.
    #[oai(status = 200)]
    Ready(Json<HealthStatus>),
    /// A dependency is down.
    #[oai(status = 503)]
    NotReady(Json<HealthStatus>),
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness: the process is up.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self) -> Json<HealthStatus> {
        Json(HealthStatus {
            status: "ok".into(),
            database: None,
            storage: None,
        })
    }

    /// Readiness: Postgres and object storage both answer.
    #[oai(path = "/readyz", method = "get", operation_id = "readyz")]
    async fn readyz(&self, state: Data<&AppState>) -> ReadyResponse {
        let database = sqlx::query("select 1").execute(&state.pool).await.is_ok();
        let storage = state.storage.check_reachable().await.is_ok();
        let status = HealthStatus {
            status: if database && storage { "ok" } else { "unavailable" }.into(),
            database: Some(database),
            storage: Some(storage),
        };
        if database && storage {
            ReadyResponse::Ready(Json(status))
        } else {
            ReadyResponse::NotReady(Json(status))
        }
    }
}
