//! The prompt-template grammar: `{{name}}` placeholders, typed variables, and rendering. The
//! server checks templates with it when they are saved; the proxy renders them per call.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A template variable's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum VariableType {
    #[default]
    /// Text.
    String,
    /// Any JSON number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// One of the variable's `values`.
    Enum,
}

impl VariableType {
    /// The name in the API, the database and the snapshot.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Enum => "enum",
        }
    }

    /// Whether a JSON value is of this type (`values` lists an enum's allowed values).
    pub fn fits(self, values: &[String], value: &Value) -> bool {
        match self {
            Self::String => value.is_string(),
            Self::Number => value.is_number(),
            Self::Boolean => value.is_boolean(),
            Self::Enum => value
                .as_str()
                .is_some_and(|v| values.iter().any(|allowed| allowed == v)),
        }
    }

    /// What a value of this type looks like, for error messages: `a number`, `one of a, b`.
    pub fn expected(self, values: &[String]) -> String {
        match self {
            Self::Enum => format!("one of {}", values.join(", ")),
            other => format!("a {}", other.as_str()),
        }
    }

    /// The JSON Schema of a variable of this type (prompt APIs' OpenAPI documents and MCP tool
    /// input schemas): `values` for an enum, and its description and default where given.
    pub fn json_schema(
        self,
        values: &[String],
        description: Option<&str>,
        default: Option<&Value>,
    ) -> Value {
        let mut schema = match self {
            Self::String => serde_json::json!({"type": "string"}),
            Self::Number => serde_json::json!({"type": "number"}),
            Self::Boolean => serde_json::json!({"type": "boolean"}),
            Self::Enum => serde_json::json!({"type": "string", "enum": values}),
        };
        if let Some(description) = description {
            schema["description"] = Value::from(description);
        }
        if let Some(default) = default {
            schema["default"] = default.clone();
        }
        schema
    }
}

/// The `{{name}}` placeholders of a text (names trimmed; an unclosed `{{` ends the search).
pub fn placeholders(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        found.insert(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    found
}

/// Replaces each `{{name}}` with its value (strings as they are, others as JSON); unknown
/// placeholders and an unclosed `{{` stay as written.
pub fn render(template: &str, variables: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        match variables.get(after[..end].trim()) {
            Some(Value::String(text)) => out.push_str(text),
            Some(value) => out.push_str(&value.to_string()),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_are_found_trimmed_and_once() {
        let found = placeholders("Text: {{text}} in {{ lang }} {{text}} {{unclosed");
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            vec!["lang".to_string(), "text".to_string()]
        );
    }

    #[test]
    fn rendering_fills_known_placeholders_and_keeps_the_rest() {
        let Value::Object(vars) = json!({"name": "Ada", "n": 3}) else {
            unreachable!()
        };
        assert_eq!(
            render("Hi {{ name }}, {{n}} {{other}} {{open", &vars),
            "Hi Ada, 3 {{other}} {{open"
        );
    }

    #[test]
    fn values_fit_their_types() {
        let values = vec!["a".to_string()];
        assert!(VariableType::Enum.fits(&values, &json!("a")));
        assert!(!VariableType::Enum.fits(&values, &json!("b")));
        assert!(VariableType::Number.fits(&[], &json!(1.5)));
        assert!(!VariableType::String.fits(&[], &json!(1)));
        assert_eq!(VariableType::Enum.expected(&values), "one of a");
    }
}
