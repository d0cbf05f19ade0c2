//! Who a verified identity from a provider is here: the user linked to its subject, else the
//! user of its email (only when the provider vouches for the email), else a new user made just
//! in time. At every sign-in the provider's group rules set the memberships they grant: a
//! group left means the role it gave is gone.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::error::ApiResult;
use crate::roles::Role;
use crate::service::audit;
use crate::service::identity_providers::{GroupRule, IdentityProvider};
use crate::service::users;
use crate::validate;

/// What an ID token says about the person.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) subject: String,
    pub(crate) email: String,
    pub(crate) email_verified: Option<bool>,
    pub(crate) groups: Vec<String>,
}

impl Identity {
    /// Reads the claims; `None` when there is no usable subject or email.
    pub(crate) fn from_claims(claims: &Map<String, Value>, groups_claim: &str) -> Option<Self> {
        let subject = claims.get("sub")?.as_str()?.to_string();
        let email = validate::email(claims.get("email")?.as_str()?)
            .ok()?
            .to_lowercase();
        let groups = match claims.get(groups_claim) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        Some(Self {
            subject,
            email,
            email_verified: claims.get("email_verified").and_then(Value::as_bool),
            groups,
        })
    }
}

/// Why a verified identity may not sign in.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The account is disabled.
    Disabled,
    /// An account has this email, and the provider does not vouch for it.
    UnverifiedEmail,
}

/// The tenant roles the rules give these groups: the highest role per tenant.
fn granted(rules: &[GroupRule], groups: &[String]) -> BTreeMap<String, Role> {
    let mut roles: BTreeMap<String, Role> = BTreeMap::new();
    for rule in rules.iter().filter(|r| groups.contains(&r.group)) {
        let role = roles.entry(rule.tenant.clone()).or_insert(rule.role);
        *role = (*role).max(rule.role);
    }
    roles
}

/// Signs the identity in: returns the user, or why not.
pub(crate) async fn sign_in(
    db: &PgPool,
    provider: &IdentityProvider,
    identity: &Identity,
) -> ApiResult<Result<Uuid, Refused>> {
    let mut tx = db.begin().await?;
    let linked: Option<Uuid> = sqlx::query_scalar(
        "SELECT user_id FROM user_identities WHERE provider_id = $1 AND subject = $2",
    )
    .bind(provider.id)
    .bind(&identity.subject)
    .fetch_optional(&mut *tx)
    .await?;
    let user_id = match linked {
        Some(user) => user,
        None => {
            let user = match users::id_by_email(&mut tx, &identity.email).await? {
                Some(_) if identity.email_verified != Some(true) => {
                    return Ok(Err(Refused::UnverifiedEmail))
                }
                Some(user) => user,
                None => users::insert(&mut tx, &identity.email, None, false).await?,
            };
            sqlx::query(
                "INSERT INTO user_identities (provider_id, subject, user_id) VALUES ($1, $2, $3)",
            )
            .bind(provider.id)
            .bind(&identity.subject)
            .bind(user)
            .execute(&mut *tx)
            .await?;
            user
        }
    };
    let disabled: bool =
        sqlx::query_scalar("SELECT disabled_at IS NOT NULL FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
    if disabled {
        return Ok(Err(Refused::Disabled));
    }
    apply_rules(&mut tx, provider, identity, user_id).await?;
    tx.commit().await?;
    Ok(Ok(user_id))
}

/// Sets the memberships the provider's rules grant; audits each change in its tenant.
async fn apply_rules(
    conn: &mut PgConnection,
    provider: &IdentityProvider,
    identity: &Identity,
    user_id: Uuid,
) -> ApiResult<()> {
    let wanted = granted(&provider.group_rules, &identity.groups);
    let current: Vec<(Uuid, String, Role, Option<Uuid>)> = sqlx::query_as(
        "SELECT m.tenant_id, t.slug, m.role, m.granted_by_provider
         FROM memberships m JOIN tenants t ON t.id = m.tenant_id WHERE m.user_id = $1",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut changes = Vec::new();
    for (tenant_id, slug, role, granted_by) in &current {
        // Memberships made by hand (or by another provider) are not this provider's to change.
        if *granted_by != Some(provider.id) {
            continue;
        }
        match wanted.get(slug) {
            None => {
                sqlx::query("DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2")
                    .bind(tenant_id)
                    .bind(user_id)
                    .execute(&mut *conn)
                    .await?;
                changes.push((*tenant_id, "member.sso_revoke", json!({"role": role})));
            }
            Some(new) if new != role => {
                sqlx::query(
                    "UPDATE memberships SET role = $3 WHERE tenant_id = $1 AND user_id = $2",
                )
                .bind(tenant_id)
                .bind(user_id)
                .bind(new)
                .execute(&mut *conn)
                .await?;
                changes.push((
                    *tenant_id,
                    "member.sso_role_change",
                    json!({"from": role, "to": new}),
                ));
            }
            Some(_) => {}
        }
    }
    for (slug, role) in &wanted {
        if current.iter().any(|(_, s, _, _)| s == slug) {
            continue;
        }
        let tenant: Option<Uuid> = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
            .bind(slug)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(tenant_id) = tenant else { continue };
        sqlx::query(
            "INSERT INTO memberships (tenant_id, user_id, role, granted_by_provider)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(role)
        .bind(provider.id)
        .execute(&mut *conn)
        .await?;
        changes.push((tenant_id, "member.sso_grant", json!({"role": role})));
    }
    for (tenant_id, action, mut details) in changes {
        details["email"] = json!(identity.email);
        details["provider"] = json!(provider.name);
        details["groups"] = json!(identity.groups);
        audit::record_as(
            conn,
            None,
            Some(&format!("sso:{}", provider.name)),
            audit::Change {
                tenant_id: Some(tenant_id),
                action,
                target_type: "user",
                target_id: user_id.to_string(),
                details,
            },
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_role_of_the_matching_rules_wins() {
        let rule = |group: &str, tenant: &str, role| GroupRule {
            group: group.into(),
            tenant: tenant.into(),
            role,
        };
        let rules = [
            rule("devs", "shop", Role::Member),
            rule("leads", "shop", Role::Admin),
            rule("ops", "infra", Role::Viewer),
        ];
        let roles = granted(&rules, &["devs".into(), "leads".into()]);
        assert_eq!(roles.get("shop"), Some(&Role::Admin));
        assert_eq!(roles.get("infra"), None);
        assert!(granted(&rules, &[]).is_empty());
    }

    #[test]
    fn groups_come_as_a_list_or_one_string() {
        let claims = |groups: Value| {
            let mut c = Map::new();
            c.insert("sub".into(), json!("u1"));
            c.insert("email".into(), json!("A@Example.com"));
            c.insert("roles".into(), groups);
            c
        };
        let identity = Identity::from_claims(&claims(json!(["a", "b"])), "roles").unwrap();
        assert_eq!(identity.groups, ["a", "b"]);
        assert_eq!(identity.email, "a@example.com");
        let identity = Identity::from_claims(&claims(json!("a")), "roles").unwrap();
        assert_eq!(identity.groups, ["a"]);
        let mut no_email = claims(json!([]));
        no_email.remove("email");
        assert!(Identity::from_claims(&no_email, "roles").is_none());
    }
}
