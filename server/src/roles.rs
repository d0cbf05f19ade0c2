//! What each tenant role may do: the contract's `Role`, and the check every service runs.

pub(crate) use tollgate_protocol::Role;

use crate::error::{ApiError, ApiResult};

/// Role checks, as methods on `Role`.
pub(crate) trait Require {
    /// Refuses with 403 unless this role is at least `needed`; `action` completes
    /// "your role … may not …".
    fn require(self, needed: Role, action: &str) -> ApiResult<()>;
}

impl Require for Role {
    fn require(self, needed: Role, action: &str) -> ApiResult<()> {
        if self >= needed {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "your role '{}' may not {action}; it needs '{}' or above",
                self.as_str(),
                needed.as_str()
            )))
        }
    }
}
