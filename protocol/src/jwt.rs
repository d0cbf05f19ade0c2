//! Verifying JSON Web Tokens signed by an identity provider's keys (its JWKS), as the server
//! does for single sign-on and the proxy for JWT callers.
//!
//! Only asymmetric algorithms are accepted: `none` and the HMAC family never are, so a
//! provider's public key can never be used as an HMAC secret (the HS/RS confusion). The key is
//! chosen by the token's `kid`, and must be of the token's algorithm family (and algorithm,
//! when the key names one).

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{DecodingKey, Validation};

pub use jsonwebtoken::jwk::JwkSet;
pub use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

/// The algorithms accepted unless a narrower list is configured.
pub const ASYMMETRIC: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// What a token must say.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The token's `iss` must be this.
    pub issuer: &'a str,
    /// The token's `aud` must name one of these.
    pub audiences: &'a [String],
    /// Allowed algorithms; only asymmetric ones ever pass, whatever is listed.
    pub algorithms: &'a [Algorithm],
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
    pub leeway_secs: u64,
    /// Claims that must be present (besides `iss`, `aud` and `exp`).
    pub required_claims: &'a [String],
    /// The `nonce` the token must carry (an OpenID Connect sign-in's), if any.
    pub nonce: Option<&'a str>,
}

/// Why a token was refused: every variant reads as a reason a caller can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not a JWT, or one that cannot be read (why).
    Malformed(String),
    /// Signed with an algorithm that is not accepted (`none`, HMAC, or not configured).
    AlgorithmNotAllowed(String),
    /// No key of the issuer has this key id (or fits, without one).
    UnknownKey(Option<String>),
    /// The signature does not verify with the issuer's key.
    BadSignature,
    /// Past its `exp` (beyond the skew).
    Expired,
    /// Before its `nbf`, or issued in the future (beyond the skew).
    NotYetValid,
    /// Its `iss` is not the expected issuer.
    WrongIssuer,
    /// Its `aud` names none of the expected audiences.
    WrongAudience,
    /// A required claim is missing.
    MissingClaim(String),
    /// Its `nonce` is not the one of this sign-in.
    WrongNonce,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "the token is not a valid JWT ({why})"),
            Self::AlgorithmNotAllowed(alg) => {
                write!(f, "the token's algorithm '{alg}' is not allowed")
            }
            Self::UnknownKey(Some(kid)) => {
                write!(f, "the token is signed with an unknown key id '{kid}'")
            }
            Self::UnknownKey(None) => write!(f, "no key of the issuer fits the token"),
            Self::BadSignature => write!(f, "the token's signature does not verify"),
            Self::Expired => write!(f, "the token has expired"),
            Self::NotYetValid => write!(f, "the token is not valid yet"),
            Self::WrongIssuer => write!(f, "the token is from another issuer"),
            Self::WrongAudience => write!(f, "the token is meant for another audience"),
            Self::MissingClaim(claim) => write!(f, "the token has no '{claim}' claim"),
            Self::WrongNonce => write!(f, "the token's nonce is not this sign-in's"),
        }
    }
}

impl std::error::Error for Refusal {}

/// The token's header: its algorithm (as written) and key id, read without verifying.
pub fn header(token: &str) -> Result<(String, Option<String>), Refusal> {
    use base64::Engine;
    let first = token
        .split('.')
        .next()
        .filter(|_| token.split('.').count() == 3)
        .ok_or_else(|| Refusal::Malformed("it does not have three parts".into()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(first.trim_end_matches('='))
        .map_err(|_| Refusal::Malformed("its header is not base64url".into()))?;
    let header: Value = serde_json::from_slice(&bytes)
        .map_err(|_| Refusal::Malformed("its header is not JSON".into()))?;
    let alg = header["alg"]
        .as_str()
        .ok_or_else(|| Refusal::Malformed("its header names no algorithm".into()))?
        .to_string();
    Ok((alg, header["kid"].as_str().map(str::to_string)))
}

/// The `iss` claim, read without verifying (to pick the issuer whose keys verify it).
pub fn unverified_issuer(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims["iss"].as_str().map(str::to_string)
}

fn algorithm(name: &str, allowed: &[Algorithm]) -> Result<Algorithm, Refusal> {
    let refused = || Refusal::AlgorithmNotAllowed(name.chars().take(20).collect());
    let alg: Algorithm = name.parse().map_err(|_| refused())?;
    if ASYMMETRIC.contains(&alg) && allowed.contains(&alg) {
        Ok(alg)
    } else {
        Err(refused())
    }
}

/// Whether a key can verify tokens of `alg`.
fn fits(key: &Jwk, alg: Algorithm) -> bool {
    if let Some(named) = key.common.key_algorithm {
        if named.to_string() != format!("{alg:?}") {
            return false;
        }
    }
    match &key.algorithm {
        AlgorithmParameters::RSA(_) => matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        AlgorithmParameters::EllipticCurve(_) => {
            matches!(alg, Algorithm::ES256 | Algorithm::ES384)
        }
        AlgorithmParameters::OctetKeyPair(_) => alg == Algorithm::EdDSA,
        AlgorithmParameters::OctetKey(_) => false,
    }
}

/// Whether a key set holds a shared (HMAC) secret, which is never accepted.
pub fn has_shared_secret(keys: &JwkSet) -> bool {
    keys.keys
        .iter()
        .any(|k| matches!(k.algorithm, AlgorithmParameters::OctetKey(_)))
}

/// The key of `keys` that verifies a token of `alg` and `kid`.
pub fn find_key<'a>(keys: &'a JwkSet, alg: Algorithm, kid: Option<&str>) -> Option<&'a Jwk> {
    let mut fitting = keys.keys.iter().filter(|k| fits(k, alg));
    match kid {
        Some(kid) => fitting.find(|k| k.common.key_id.as_deref() == Some(kid)),
        None => {
            let first = fitting.next()?;
            // Without a kid, only an unambiguous key is used.
            fitting.next().is_none().then_some(first)
        }
    }
}

/// Verifies a token against the issuer's keys; returns its claims.
pub fn verify(
    token: &str,
    keys: &JwkSet,
    expected: &Expected<'_>,
) -> Result<Map<String, Value>, Refusal> {
    let (name, kid) = header(token)?;
    let alg = algorithm(&name, expected.algorithms)?;
    let key = find_key(keys, alg, kid.as_deref()).ok_or(Refusal::UnknownKey(kid))?;
    let key = DecodingKey::from_jwk(key)
        .map_err(|_| Refusal::Malformed("the issuer's key is unusable".into()))?;
    let mut validation = Validation::new(alg);
    validation.algorithms = vec![alg];
    validation.leeway = expected.leeway_secs;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.set_issuer(&[expected.issuer]);
    validation.set_audience(expected.audiences);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let data =
        jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(|err| {
            use jsonwebtoken::errors::ErrorKind;
            match err.kind() {
                ErrorKind::InvalidSignature => Refusal::BadSignature,
                ErrorKind::ExpiredSignature => Refusal::Expired,
                ErrorKind::ImmatureSignature => Refusal::NotYetValid,
                ErrorKind::InvalidIssuer => Refusal::WrongIssuer,
                ErrorKind::InvalidAudience => Refusal::WrongAudience,
                ErrorKind::MissingRequiredClaim(claim) => Refusal::MissingClaim(claim.clone()),
                ErrorKind::InvalidAlgorithm => Refusal::AlgorithmNotAllowed(name.clone()),
                other => Refusal::Malformed(format!("{other:?}")),
            }
        })?;
    let claims = data.claims;
    // A token issued in the future (beyond the skew) is not trusted either.
    if let Some(iat) = claims.get("iat").and_then(Value::as_u64) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if iat > now + expected.leeway_secs {
            return Err(Refusal::NotYetValid);
        }
    }
    for claim in expected.required_claims {
        if claims.get(claim).is_none_or(Value::is_null) {
            return Err(Refusal::MissingClaim(claim.clone()));
        }
    }
    if let Some(nonce) = expected.nonce {
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err(Refusal::WrongNonce);
        }
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(header: &str) -> String {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!(
            "{}.{}.sig",
            b64(header),
            b64(r#"{"iss":"https://id.example"}"#)
        )
    }

    #[test]
    fn none_and_hmac_are_never_allowed() {
        let keys = JwkSet { keys: Vec::new() };
        let expected = Expected {
            issuer: "https://id.example",
            audiences: &[],
            algorithms: &[Algorithm::HS256, Algorithm::RS256],
            leeway_secs: 0,
            required_claims: &[],
            nonce: None,
        };
        for alg in ["none", "HS256", "HS512", "nonsense"] {
            let refused = verify(&token(&format!(r#"{{"alg":"{alg}"}}"#)), &keys, &expected);
            assert_eq!(
                refused,
                Err(Refusal::AlgorithmNotAllowed(alg.into())),
                "{alg}"
            );
        }
        assert_eq!(
            verify(&token(r#"{"alg":"RS256","kid":"k9"}"#), &keys, &expected),
            Err(Refusal::UnknownKey(Some("k9".into())))
        );
        assert_eq!(
            unverified_issuer(&token(r#"{"alg":"RS256"}"#)).as_deref(),
            Some("https://id.example")
        );
        assert!(matches!(
            verify("not-a-jwt", &keys, &expected),
            Err(Refusal::Malformed(_))
        ));
    }
}
