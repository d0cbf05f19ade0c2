//! Tenant roles and what each may do.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};

/// A user's role in a tenant, from least to most powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything in the tenant.
    Viewer,
    /// Also manages API keys.
    Member,
    /// Also manages members and everything else in the tenant.
    Admin,
    /// Like admin, and may grant or take the owner role.
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "viewer" => Some(Self::Viewer),
            "member" => Some(Self::Member),
            "admin" => Some(Self::Admin),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }

    /// Refuses with 403 unless this role is at least `needed`; `action` completes
    /// "your role … may not …".
    pub fn require(self, needed: Role, action: &str) -> ApiResult<()> {
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
