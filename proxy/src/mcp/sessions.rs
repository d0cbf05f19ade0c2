//! MCP sessions. A client's session id is made by the proxy and bound to the key that opened
//! it (a keyed hash any proxy sharing the fleet's token can check), so a session survives a
//! move to another proxy and is useless with another key. The sessions opened upstream are
//! shared by all of a key's client sessions on this proxy: the gateway gives every forwarded
//! call an id of its own, so calls of different client sessions cannot be mixed up.

use std::time::{Duration, Instant};

use dashmap::DashMap;
use http::HeaderValue;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Upstream sessions kept before the oldest are let go.
const UPSTREAM_SESSIONS_MAX: usize = 10_000;
/// How long an upstream session is reused.
const UPSTREAM_SESSION_LIFE: Duration = Duration::from_secs(3600);
/// How long an ended client session is remembered (refused).
const ENDED_MEMORY: Duration = Duration::from_secs(24 * 3600);

/// A session opened with an MCP server.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamSession {
    /// The `Mcp-Session-Id` it gave (a stateless server gives none).
    pub(crate) id: Option<HeaderValue>,
    /// The protocol version it agreed to, sent as `MCP-Protocol-Version`.
    pub(crate) protocol: HeaderValue,
    opened: Instant,
}

impl UpstreamSession {
    pub(crate) fn new(id: Option<HeaderValue>, protocol: HeaderValue) -> Self {
        Self {
            id,
            protocol,
            opened: Instant::now(),
        }
    }
}

/// The gateway's sessions, for every worker of this proxy.
pub(crate) struct Sessions {
    secret: [u8; 32],
    ended: DashMap<String, Instant>,
    upstream: DashMap<(Uuid, Uuid), UpstreamSession>,
}

impl Sessions {
    /// Session ids are keyed by `fleet_secret` (the proxy token) so every proxy of the fleet
    /// accepts them; without one, by a secret of this process.
    pub(crate) fn new(fleet_secret: Option<&str>) -> Self {
        let secret = match fleet_secret {
            Some(token) => Sha256::new()
                .chain_update(b"tollgate mcp sessions\0")
                .chain_update(token.as_bytes())
                .finalize()
                .into(),
            None => {
                let mut secret = [0u8; 32];
                secret[..16].copy_from_slice(Uuid::new_v4().as_bytes());
                secret[16..].copy_from_slice(Uuid::new_v4().as_bytes());
                secret
            }
        };
        Self {
            secret,
            ended: DashMap::new(),
            upstream: DashMap::new(),
        }
    }

    /// A new client session for `key`.
    pub(crate) fn open(&self, key: Uuid) -> String {
        let nonce = Uuid::new_v4();
        format!("{}{}", nonce.simple(), self.tag(key, nonce.as_bytes()))
    }

    /// Whether `id` is a live session of `key`.
    pub(crate) fn is_live(&self, id: &str, key: Uuid) -> bool {
        let (Some(nonce), Some(tag)) = (id.get(..32), id.get(32..)) else {
            return false;
        };
        let Ok(nonce) = Uuid::try_parse(nonce) else {
            return false;
        };
        id.len() == 64
            && constant_time_eq(tag.as_bytes(), self.tag(key, nonce.as_bytes()).as_bytes())
            && !self.ended.contains_key(id)
    }

    /// Ends a client session: it is refused from now on (by this proxy).
    pub(crate) fn end(&self, id: &str) {
        let now = Instant::now();
        if self.ended.len() >= UPSTREAM_SESSIONS_MAX {
            self.ended
                .retain(|_, ended| now.duration_since(*ended) < ENDED_MEMORY);
        }
        self.ended.insert(id.to_string(), now);
    }

    /// The session open with `server` for `key`, if one is and it is fresh.
    pub(crate) fn upstream(&self, key: Uuid, server: Uuid) -> Option<UpstreamSession> {
        self.upstream
            .get(&(key, server))
            .filter(|s| s.opened.elapsed() < UPSTREAM_SESSION_LIFE)
            .map(|s| s.clone())
    }

    /// Keeps a session opened with `server` for `key`.
    pub(crate) fn keep(&self, key: Uuid, server: Uuid, session: UpstreamSession) {
        if self.upstream.len() >= UPSTREAM_SESSIONS_MAX {
            self.upstream
                .retain(|_, s| s.opened.elapsed() < UPSTREAM_SESSION_LIFE / 4);
        }
        self.upstream.insert((key, server), session);
    }

    /// Lets go of the session with `server` for `key` (the server forgot it).
    pub(crate) fn forget(&self, key: Uuid, server: Uuid) {
        self.upstream.remove(&(key, server));
    }

    fn tag(&self, key: Uuid, nonce: &[u8]) -> String {
        let digest = Sha256::new()
            .chain_update(self.secret)
            .chain_update(key.as_bytes())
            .chain_update(nonce)
            .finalize();
        hex::encode(&digest[..16])
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_belongs_to_its_key_and_ends() {
        let sessions = Sessions::new(Some("fleet-token"));
        let (key, other) = (Uuid::new_v4(), Uuid::new_v4());
        let id = sessions.open(key);
        assert_eq!(id.len(), 64);
        assert!(sessions.is_live(&id, key));
        assert!(!sessions.is_live(&id, other));
        assert!(!sessions.is_live(&id[..63], key));
        assert!(!sessions.is_live("x", key));
        sessions.end(&id);
        assert!(!sessions.is_live(&id, key));
    }

    #[test]
    fn proxies_sharing_a_token_accept_each_others_sessions() {
        let key = Uuid::new_v4();
        let id = Sessions::new(Some("fleet-token")).open(key);
        assert!(Sessions::new(Some("fleet-token")).is_live(&id, key));
        assert!(!Sessions::new(Some("another-fleet")).is_live(&id, key));
        assert!(!Sessions::new(None).is_live(&id, key));
    }
}
