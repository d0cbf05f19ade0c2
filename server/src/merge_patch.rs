//! RFC 7386 JSON merge patch, how PATCH endpoints change documents.

use serde_json::Value;

/// Applies `patch` to `target`: objects merge key by key, `null` removes a key, anything else
/// replaces.
pub fn apply(target: &mut Value, patch: &Value) {
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
