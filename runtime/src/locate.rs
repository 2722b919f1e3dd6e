//! Where a config error is: `file:line: key: message`, e.g.
//! `agent.toml:21: uplink.max_inflight: invalid type: string "x", expected usize`.
//!
//! The README promises that `check-config` of both binaries names the file, the line and the
//! dotted key of a bad setting; one algorithm serves both so the promise cannot drift.
//!
//! toml keeps the key path of a deserialization error private, but its span is public: the key is
//! the deepest entry of the parsed document whose key or value contains the span's start. For a
//! missing field the span covers the table that lacks it, and the field's name is in the message.
//! Errors found after parsing (values out of range) are located by walking the parsed document to
//! the key. When a place is unknown, the line (or the key) is left out rather than invented.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// A config value that is missing, unknown, of the wrong type or out of range, with its place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(file, *line, key, message))]
pub struct KeyError {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line, when the error has a place in the file.
    pub line: Option<usize>,
    /// Dotted key (`mqtt.port`, `stores.2`); empty when the error is not about one key.
    pub key: String,
    pub message: String,
}

fn render(file: &str, line: Option<usize>, key: &str, message: &str) -> String {
    let place = match line {
        Some(line) => format!("{file}:{line}"),
        None => file.to_owned(),
    };
    if key.is_empty() {
        format!("{place}: {message}")
    } else {
        format!("{place}: {key}: {message}")
    }
}

impl KeyError {
    /// A toml parse or deserialization error of `text` (the contents of `file`), located.
    pub fn from_toml(text: &str, file: &str, err: &toml::de::Error) -> KeyError {
        let message = err.message().trim().to_owned();
        let span = err.span();
        let mut key: Vec<String> = Vec::new();
        // An empty span is the document itself (e.g. a missing top-level key): no key to name.
        if let Some(span) = span.as_ref().filter(|s| !s.is_empty()) {
            match DeTable::parse(text) {
                Ok(doc) => key = key_path_at(doc.get_ref(), span),
                Err(_) => key = key_from_line(text, span.start),
            }
        }
        if let Some(field) = missing_field(&message) {
            key.push(field.to_owned());
        }
        // A missing top-level key has an empty span at offset 0: there is no line to point at. A
        // syntax error at the very start has the same span, and is on line 1.
        let missing_top_level = missing_field(&message).is_some();
        let mut line = span
            .filter(|s| !(s.start == 0 && s.end == 0 && missing_top_level))
            .map(|s| line_of_offset(text, s.start));
        // An unknown field of an internally tagged enum (a `[[drivers]]` entry) spans the whole
        // table: point at the field itself.
        if let Some(field) = unknown_field(&message) {
            if key.last().map(String::as_str) != Some(field) {
                let mut path: Vec<&str> = key.iter().map(String::as_str).collect();
                path.push(field);
                if let Some(field_line) = line_of_key(text, &path) {
                    key.push(field.to_owned());
                    line = Some(field_line);
                }
            }
        }
        KeyError {
            file: file.to_owned(),
            line,
            key: key.join("."),
            message,
        }
    }

    /// A semantic error (found after parsing) about the value at `path` (table keys, then array
    /// indices as decimal strings); the line is that of the key, if the file writes it.
    pub fn at(text: &str, file: &str, path: &[&str], message: impl Into<String>) -> KeyError {
        KeyError {
            file: file.to_owned(),
            line: line_of_key(text, path),
            key: path.join("."),
            message: message.into(),
        }
    }
}

/// `missing field `x`` → `x`.
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field)
}

/// `unknown field `x`, expected ...` → `x`.
fn unknown_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field)
}

/// 1-based line of a byte offset.
fn line_of_offset(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The dotted path of the deepest key whose key text or value contains `span.start`.
fn key_path_at(table: &DeTable<'_>, span: &Range<usize>) -> Vec<String> {
    let mut best: Vec<String> = Vec::new();
    let mut path: Vec<String> = Vec::new();
    walk_table(table, span.start, &mut path, &mut best);
    best
}

fn walk_table(table: &DeTable<'_>, at: usize, path: &mut Vec<String>, best: &mut Vec<String>) {
    for (k, v) in table.iter() {
        path.push(k.get_ref().to_string());
        if (k.span().contains(&at) || v.span().contains(&at)) && path.len() > best.len() {
            *best = path.clone();
        }
        walk_value(v.get_ref(), at, path, best);
        path.pop();
    }
}

fn walk_value(value: &DeValue<'_>, at: usize, path: &mut Vec<String>, best: &mut Vec<String>) {
    match value {
        DeValue::Table(t) => walk_table(t, at, path, best),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                if item.span().contains(&at) && path.len() > best.len() {
                    *best = path.clone();
                }
                walk_value(item.get_ref(), at, path, best);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Fallback for syntax errors (no parsed document): the `[table]` header above the line plus the
/// key text before `=` on the line.
fn key_from_line(text: &str, offset: usize) -> Vec<String> {
    let line_no = line_of_offset(text, offset);
    let mut table: Vec<String> = Vec::new();
    let mut key = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if i + 1 == line_no {
            if let Some((k, _)) = trimmed.split_once('=') {
                let k = k.trim();
                if !k.is_empty() && !k.starts_with('[') {
                    key = table.clone();
                    key.extend(k.split('.').map(|p| p.trim().trim_matches('"').to_owned()));
                }
            }
            break;
        }
        if trimmed.starts_with('[') {
            let inner = trimmed.trim_start_matches('[');
            if let Some(end) = inner.find(']') {
                table = inner[..end]
                    .split('.')
                    .map(|p| p.trim().trim_matches('"').to_owned())
                    .collect();
            }
        }
    }
    key
}

/// 1-based line of the value at `path` (table keys, then array indices), if the file has it.
pub fn line_of_key(text: &str, path: &[&str]) -> Option<usize> {
    let doc = DeTable::parse(text).ok()?;
    let (first, rest) = path.split_first()?;
    let mut span = None;
    let mut current = doc
        .get_ref()
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == *first)
        .map(|(k, v)| {
            span = Some(k.span());
            v
        })?;
    for part in rest {
        let next = match current.get_ref() {
            DeValue::Table(t) => {
                t.iter()
                    .find(|(k, _)| k.get_ref().as_ref() == *part)
                    .map(|(k, v)| {
                        span = Some(k.span());
                        v
                    })
            }
            DeValue::Array(items) => part.parse::<usize>().ok().and_then(|i| {
                let item = items.get(i)?;
                span = Some(item.span());
                Some(item)
            }),
            _ => None,
        };
        current = next?;
    }
    span.map(|s| line_of_offset(text, s.start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        id: String,
        #[serde(default)]
        mqtt: Option<Mqtt>,
        #[serde(default)]
        stores: Vec<String>,
        #[serde(default)]
        drivers: Vec<Driver>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Mqtt {
        #[serde(default)]
        host: Option<String>,
        #[serde(default)]
        port: Option<u16>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Driver {
        id: String,
    }

    fn err(text: &str) -> String {
        let e = toml::from_str::<Doc>(text).expect_err("should be rejected");
        KeyError::from_toml(text, "c.toml", &e).to_string()
    }

    #[test]
    fn wrong_type_names_line_and_key() {
        let text = "id = \"x\"\n\n[mqtt]\nhost = \"h\"\n\nport = \"x\"\n";
        assert_eq!(
            err(text),
            "c.toml:6: mqtt.port: invalid type: string \"x\", expected u16"
        );
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let e = err("id = \"x\"\n[mqtt]\nprot = 1\n");
        assert!(
            e.starts_with("c.toml:3: mqtt.prot: unknown field `prot`"),
            "{e}"
        );
    }

    #[test]
    fn inline_and_dotted_tables_name_the_key() {
        assert_eq!(
            err("id = \"x\"\nmqtt = { port = 99999 }\n"),
            "c.toml:2: mqtt.port: invalid value: integer `99999`, expected u16"
        );
        let e = err("id = \"x\"\nmqtt.port = \"p\"\n");
        assert!(e.starts_with("c.toml:2: mqtt.port: "), "{e}");
    }

    #[test]
    fn array_of_tables_names_the_index() {
        let e = err("id = \"x\"\n[[drivers]]\nid = \"a\"\n[[drivers]]\nid = \"b\"\nport = 3\n");
        assert!(e.starts_with("c.toml:6: drivers.1.port: "), "{e}");
    }

    #[test]
    fn unknown_field_of_a_tagged_table_names_the_field() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Tagged {
            drivers: Vec<Kind>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
        #[allow(dead_code)]
        enum Kind {
            Feed { id: String },
        }
        let text = "[[drivers]]\ntype = \"feed\"\nid = \"f\"\nport = 3\n";
        let e = toml::from_str::<Tagged>(text).unwrap_err();
        let e = KeyError::from_toml(text, "c.toml", &e).to_string();
        assert!(
            e.starts_with("c.toml:4: drivers.0.port: unknown field `port`"),
            "{e}"
        );
    }

    #[test]
    fn missing_top_level_key_has_no_line() {
        assert_eq!(err("stores = []\n"), "c.toml: id: missing field `id`");
    }

    #[test]
    fn missing_nested_key_names_the_table() {
        let e = err("id = \"x\"\n[[drivers]]\n");
        assert!(
            e.starts_with("c.toml:2: drivers.0.id: missing field `id`"),
            "{e}"
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let e = err("id = \"x\"\n[mqtt]\nport = 1\nport = 2\n");
        assert!(e.starts_with("c.toml:4: mqtt.port: "), "{e}");
        // At the very first byte (a fuzz finding: this had neither line nor key).
        let e = err(",,\nid = \"x\"\n");
        assert!(e.starts_with("c.toml:1: "), "{e}");
    }

    #[test]
    fn semantic_errors_find_the_key_line() {
        let text = "id = \"x\"\n\n[mqtt]\n# c\nport = 0\nstores = [\"a\",\n  \"b\"]\n";
        assert_eq!(line_of_key(text, &["mqtt", "port"]), Some(5));
        assert_eq!(line_of_key(text, &["id"]), Some(1));
        assert_eq!(line_of_key(text, &["mqtt", "stores", "1"]), Some(7));
        assert_eq!(line_of_key(text, &["mqtt", "host"]), None);
        assert_eq!(line_of_key("not = [toml", &["not"]), None);
        let e = KeyError::at(text, "c.toml", &["mqtt", "port"], "must be at least 1");
        assert_eq!(e.to_string(), "c.toml:5: mqtt.port: must be at least 1");
        let e = KeyError::at(text, "c.toml", &["mqtt", "host"], "must not be empty");
        assert_eq!(e.to_string(), "c.toml: mqtt.host: must not be empty");
    }

    #[test]
    fn an_error_about_no_key_is_file_and_message() {
        let e = KeyError {
            file: "c.toml".into(),
            line: Some(3),
            key: String::new(),
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "c.toml:3: bad");
    }
}
