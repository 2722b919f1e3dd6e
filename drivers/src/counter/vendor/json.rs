//! Walking a vendor's JSON with the path of every value at hand, so that each error names the
//! field it is about (`CountLogs[1].Counts[0].Value`), not only the line and column.
//!
//! Vendor payloads are read leniently on purpose: fields we do not use are ignored (vendors add
//! fields with firmware updates) and `null` counts as missing.

use serde_json::Value;

use crate::counter::reading::DecodeError;
use crate::counter::time;

/// Parses a payload. serde_json limits nesting, so hostile input cannot exhaust the stack.
pub(crate) fn parse(body: &[u8]) -> Result<Value, DecodeError> {
    serde_json::from_slice(body).map_err(|e| DecodeError::NotJson(e.to_string()))
}

/// A value and where it sits in the payload.
pub(crate) struct Node<'a> {
    value: &'a Value,
    path: String,
}

impl<'a> Node<'a> {
    pub(crate) fn root(value: &'a Value) -> Self {
        Node {
            value,
            path: String::new(),
        }
    }

    /// Path of this value, as shown in errors.
    pub(crate) fn path(&self) -> &str {
        if self.path.is_empty() {
            "(payload)"
        } else {
            &self.path
        }
    }

    fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn wrong_type(&self, expected: &'static str) -> DecodeError {
        DecodeError::WrongType {
            field: self.path().to_owned(),
            expected,
        }
    }

    /// An error about this value.
    pub(crate) fn invalid(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError::Invalid {
            field: self.path().to_owned(),
            reason: reason.into(),
        }
    }

    /// A member of this object, `None` when absent or `null`.
    pub(crate) fn opt(&self, key: &str) -> Result<Option<Node<'a>>, DecodeError> {
        let object = self
            .value
            .as_object()
            .ok_or_else(|| self.wrong_type("an object"))?;
        Ok(object.get(key).filter(|v| !v.is_null()).map(|value| Node {
            value,
            path: self.child_path(key),
        }))
    }

    /// A member of this object that must be there.
    pub(crate) fn get(&self, key: &str) -> Result<Node<'a>, DecodeError> {
        self.opt(key)?
            .ok_or_else(|| DecodeError::Missing(self.child_path(key)))
    }

    /// The elements of this array, each with its index in the path.
    pub(crate) fn items(&self) -> Result<Vec<Node<'a>>, DecodeError> {
        let items = self
            .value
            .as_array()
            .ok_or_else(|| self.wrong_type("an array"))?;
        Ok(items
            .iter()
            .enumerate()
            .map(|(i, value)| Node {
                value,
                path: format!("{}[{i}]", self.path()),
            })
            .collect())
    }

    pub(crate) fn str(&self) -> Result<&'a str, DecodeError> {
        self.value
            .as_str()
            .ok_or_else(|| self.wrong_type("a string"))
    }

    /// A non-negative integer (a JSON number without fraction or exponent).
    pub(crate) fn u64(&self) -> Result<u64, DecodeError> {
        self.value
            .as_u64()
            .ok_or_else(|| self.wrong_type("a non-negative integer"))
    }

    /// A non-negative integer that fits in 32 bits (a count of people in one interval).
    pub(crate) fn u32(&self) -> Result<u32, DecodeError> {
        let v = self.u64()?;
        u32::try_from(v).map_err(|_| self.invalid(format!("{v} is larger than {}", u32::MAX)))
    }

    /// An identifier sent either as a string or as an integer.
    pub(crate) fn id(&self) -> Result<String, DecodeError> {
        match self.value {
            Value::String(s) => Ok(s.trim().to_owned()),
            Value::Number(n) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
            _ => Err(self.wrong_type("a string or an integer")),
        }
    }

    /// A date-time string in `YYYY-MM-DD[T ]hh:mm:ss[.f][zone]` form, as epoch milliseconds.
    pub(crate) fn iso_time(&self) -> Result<i64, DecodeError> {
        time::parse_iso(self.str()?).map_err(|reason| self.invalid(reason))
    }

    /// Epoch milliseconds sent as an integer.
    pub(crate) fn epoch_ms(&self) -> Result<i64, DecodeError> {
        let v = self.u64()?;
        i64::try_from(v).map_err(|_| self.invalid(format!("{v} ms is not a plausible time")))
    }
}

/// An optional string member, trimmed; empty when absent.
pub(crate) fn opt_id(node: &Node<'_>, key: &str) -> Result<String, DecodeError> {
    Ok(match node.opt(key)? {
        Some(n) => n.id()?,
        None => String::new(),
    })
}
