//! The line an error is on. Messages say where a mistake is as "document N (Kind name)", maybe
//! ", routes[i]", then maybe the field's path in backticks (`targets[1].weight`); the line is
//! found by following that path through the document's block-style YAML (flow-style parts end
//! the search at the closest line found).

/// Adds ", line L" after the error's place (before its first ": ").
pub(super) fn with_line(text: &str, message: &str) -> String {
    let place = message.split(": ").next().unwrap_or(message);
    if place.contains(", line ") || message.contains(" at line ") {
        return message.to_string();
    }
    let Some(number) = message
        .strip_prefix("document ")
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<usize>().ok())
    else {
        return message.to_string();
    };
    let lines: Vec<&str> = text.lines().collect();
    let Some((start, end)) = document_range(&lines, number) else {
        return message.to_string();
    };
    let line = locate(&lines, start, end, &path_of(message));
    match message.split_once(": ") {
        Some((place, why)) => format!("{place}, line {}: {why}", line + 1),
        None => format!("{message} (line {})", line + 1),
    }
}

/// Lines `[start, end)` of document `number` (from 1): documents start at the first line and
/// after each `---` line (a leading one starts the first).
fn document_range(lines: &[&str], number: usize) -> Option<(usize, usize)> {
    let mut starts = vec![0];
    for (i, line) in lines.iter().enumerate() {
        if line.trim_end() == "---" || line.starts_with("--- ") {
            if i == 0 {
                starts[0] = 1;
            } else {
                starts.push(i + 1);
            }
        }
    }
    let start = *starts.get(number.checked_sub(1)?)?;
    let end = starts
        .get(number)
        .map_or(lines.len(), |next| next.saturating_sub(1));
    Some((start, end))
}

/// One step of a path: a key, maybe followed by list indexes (`routes[1]`).
#[derive(Debug, PartialEq)]
struct Step {
    key: String,
    indexes: Vec<usize>,
}

fn step(text: &str) -> Option<Step> {
    let (key, rest) = text.split_once('[').map_or((text, ""), |(k, r)| (k, r));
    let mut indexes = Vec::new();
    for part in rest.split('[').filter(|p| !p.is_empty()) {
        indexes.push(part.strip_suffix(']')?.parse().ok()?);
    }
    Some(Step {
        key: key.to_string(),
        indexes,
    })
}

/// The path a message points at: `spec`, the place's `routes[i]`, then the backticked field.
fn path_of(message: &str) -> Vec<Step> {
    let (place, why) = message.split_once(": ").unwrap_or((message, ""));
    let mut path = Vec::new();
    if place.contains('(') {
        path.extend(step("spec"));
    }
    for part in place.split(", ").skip(1) {
        if part.contains('[') {
            path.extend(step(part));
        }
    }
    let field = why.split('`').nth(1).filter(|f| {
        !f.is_empty()
            && f.chars()
                .all(|c| c.is_alphanumeric() || "_-.[]".contains(c))
    });
    for part in field.into_iter().flat_map(|f| f.split('.')) {
        match step(part) {
            Some(step) => path.push(step),
            None => break,
        }
    }
    path
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn blank(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.is_empty() || trimmed.starts_with('#')
}

/// Whether the line is a list item (`- …`), and the indentation of its content.
fn item(line: &str) -> Option<usize> {
    let trimmed = line.trim_start();
    (trimmed == "-" || trimmed.starts_with("- ")).then(|| indent(line))
}

/// The line after its indentation and any `- `.
fn content(line: &str) -> &str {
    let mut rest = line.trim_start();
    while let Some(after) = rest.strip_prefix("- ") {
        rest = after.trim_start();
    }
    rest
}

/// The column a line's content starts at: 4 for "  - path: /x".
fn key_column(line: &str) -> usize {
    line.len() - content(line).len()
}

/// The key a line starts (after any `- `), like `path` for "  - path: /x".
fn key_of(line: &str) -> Option<&str> {
    let (key, _) = content(line).split_once(':')?;
    let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
    (!key.is_empty() && !key.contains([' ', '{', '[', ','])).then_some(key)
}

/// The line (from 0) of `path` within lines `[start, end)`.
fn locate(lines: &[&str], start: usize, end: usize, path: &[Step]) -> usize {
    let (mut lo, mut hi) = (start, end);
    let mut found = (start..end).find(|&i| !blank(lines[i])).unwrap_or(start);
    for step in path {
        // Keys of this mapping start where its first key does.
        let column = (lo..hi)
            .find(|&i| !blank(lines[i]))
            .map(|i| key_column(lines[i]));
        let Some(at) = (lo..hi).find(|&i| {
            key_of(lines[i]) == Some(step.key.as_str()) && Some(key_column(lines[i])) == column
        }) else {
            break;
        };
        found = at;
        // The key's value: the lines after it indented deeper (or list items at its own
        // indentation, which YAML allows under a key).
        let own = key_column(lines[at]);
        let below = (at + 1..hi)
            .find(|&i| {
                !blank(lines[i])
                    && (indent(lines[i]) < own
                        || (indent(lines[i]) == own && item(lines[i]).is_none()))
            })
            .unwrap_or(hi);
        lo = at + 1;
        hi = below;
        for &index in &step.indexes {
            let column = (lo..hi)
                .filter(|&i| !blank(lines[i]))
                .filter_map(|i| item(lines[i]))
                .min();
            let items: Vec<usize> = (lo..hi)
                .filter(|&i| column.is_some() && item(lines[i]) == column)
                .collect();
            let Some(&first) = items.get(index) else {
                return found;
            };
            found = first;
            lo = first;
            hi = items.get(index + 1).copied().unwrap_or(hi);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCUMENTS: &str = "apiVersion: tollgate.dev/v1
kind: Service
metadata: {name: s}
spec:
  targets:
  - url: http://a
    weight: 1
  - url: http://b
    weight: ten
---
apiVersion: tollgate.dev/v1
kind: Gateway
metadata: {name: g}
spec:
  routes:
  - path: /one
    retries: 1
  - path: /two
    timeout: 5s
    retries: many
  - {path: /three, retries: 2}
";

    #[test]
    fn a_field_path_leads_to_its_line() {
        let at = |message: &str| with_line(DOCUMENTS, message);
        assert_eq!(
            at("document 1 (Service s): `targets[1].weight`: invalid type"),
            "document 1 (Service s), line 9: `targets[1].weight`: invalid type"
        );
        assert_eq!(
            at("document 2 (Gateway g), routes[1]: `retries`: invalid type"),
            "document 2 (Gateway g), routes[1], line 20: `retries`: invalid type"
        );
        // Flow style: the item's line.
        assert_eq!(
            at("document 2 (Gateway g), routes[2]: `retries`: invalid type"),
            "document 2 (Gateway g), routes[2], line 21: `retries`: invalid type"
        );
        // No field: the object's line; an unknown field named by serde's message.
        assert_eq!(
            at("document 2 (Gateway g), routes[1]: no such service"),
            "document 2 (Gateway g), routes[1], line 18: no such service"
        );
        // A field that is not there: the closest line, not a namesake deeper down.
        assert_eq!(
            at("document 2 (Gateway g): unknown field `timeout`, expected one of"),
            "document 2 (Gateway g), line 14: unknown field `timeout`, expected one of"
        );
        assert_eq!(
            at("document 2: unknown field `kinds`"),
            "document 2, line 11: unknown field `kinds`"
        );
    }

    #[test]
    fn paths_are_read_from_messages() {
        assert_eq!(
            path_of("document 1 (Gateway g), routes[3]: `request_headers.set`: x"),
            [
                step("spec").unwrap(),
                step("routes[3]").unwrap(),
                step("request_headers").unwrap(),
                step("set").unwrap()
            ]
        );
        assert_eq!(step("a[1][2]").unwrap().indexes, [1, 2]);
        assert!(step("a[x]").is_none());
    }
}
