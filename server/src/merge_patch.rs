//! RFC 7386 JSON merge patch, how PATCH endpoints change documents.

use serde_json::Value;

/// Applies `patch` to `target`: objects merge key by key, `null` removes a key, anything else
/// replaces.
pub(crate) fn apply(target: &mut Value, patch: &Value) {
    let (Some(target), Some(patch)) = (target.as_object_mut(), patch.as_object()) else {
        *target = patch.clone();
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else if value.is_object() && target.get(key).is_some_and(|v| v.is_object()) {
            if let Some(inner) = target.get_mut(key) {
                apply(inner, value);
            }
        } else {
            target.insert(key.clone(), value.clone());
        }
    }
}

/// Changes a resource's settings by a merge patch and reads the result back as settings: the
/// one way PATCH endpoints take "any subset of the fields". `what` names the resource in errors.
pub(crate) fn patched<T: serde::Serialize + serde::de::DeserializeOwned>(
    current: &T,
    patch: &Value,
    what: &str,
) -> crate::error::ApiResult<T> {
    use crate::error::ApiError;
    if !patch.is_object() {
        return Err(ApiError::Invalid(
            "send a JSON object with the fields to change".into(),
        ));
    }
    let mut merged = serde_json::to_value(current).map_err(ApiError::internal)?;
    apply(&mut merged, patch);
    serde_json::from_value(merged)
        .map_err(|e| ApiError::Invalid(format!("the changed {what} does not fit: {e}")))
}
