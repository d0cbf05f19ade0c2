//! A JWT issuer of the snapshot, compiled: its algorithms parsed (asymmetric only) and its
//! static keys, if it has them, read once.

use std::sync::Arc;

use tollgate_protocol::jwt::{self, Algorithm, JwkSet};
use tollgate_protocol::JwtIssuerEntry;

/// An issuer ready to check tokens.
#[derive(Debug)]
pub(crate) struct CompiledIssuer {
    pub(crate) entry: JwtIssuerEntry,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) static_keys: Option<Arc<JwkSet>>,
}

impl CompiledIssuer {
    pub(crate) fn compile(entry: &JwtIssuerEntry) -> Result<Self, String> {
        let algorithms = entry
            .algorithms
            .iter()
            .filter_map(|a| a.parse::<Algorithm>().ok())
            .filter(|a| jwt::ASYMMETRIC.contains(a))
            .collect::<Vec<_>>();
        if algorithms.is_empty() {
            return Err("no usable algorithm".into());
        }
        let static_keys = match &entry.keys {
            Some(keys) => Some(Arc::new(
                serde_json::from_value::<JwkSet>(keys.clone()).map_err(|e| e.to_string())?,
            )),
            None => None,
        };
        if static_keys.is_none() && entry.jwks_url.is_none() {
            return Err("neither keys nor a JWKS URL".into());
        }
        Ok(Self {
            entry: entry.clone(),
            algorithms,
            static_keys,
        })
    }
}
