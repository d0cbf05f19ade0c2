//! What every request handler shares.

use std::sync::Arc;

use sqlx::PgPool;

use crate::login_throttle::LoginThrottle;

/// Shared state of the admin API.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub login_throttle: Arc<LoginThrottle>,
}

impl AppState {
    pub fn new(db: PgPool) -> Self {
        Self {
            db,
            login_throttle: Arc::default(),
        }
    }
}
