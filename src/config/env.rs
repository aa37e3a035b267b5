//! Environment overrides, `DDS_BACKUP_SYNC__<SECTION>__[<TABLE>__]<KEY>`, each typed by the
//! settings' own definition (issue #22): the key's type is read from what the raw settings'
//! `Deserialize` asks for at that path (a probe deserializer records it), never from a list
//! kept by hand beside the structs, which drifted as keys were added. The value is then parsed
//! strictly as that type: `"4"` is a number only where a number is expected, and a string where
//! a number is expected is an error naming the variable.

use std::cell::Cell;
use std::collections::HashMap;

use serde::Deserialize;
use serde::de::value::Error as DeError;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};

use super::raw::Raw;

/// One environment override.
pub(super) struct Override {
    pub(super) var: String,
    /// Lower-case keys from the section down: `["archive", "prune", "keep_daily"]`.
    pub(super) path: Vec<String>,
    pub(super) value: toml::Value,
}

/// The overrides in `env`, each parsed as the type its key has; (variable, why) when one is
/// not a key of the settings or its value is not of the key's type.
pub(super) fn overrides(env: &HashMap<String, String>) -> Result<Vec<Override>, (String, String)> {
    let prefix = format!("{}__", super::ENV_PREFIX);
    let mut vars: Vec<(&String, &String)> = env.iter().collect();
    vars.sort();
    let mut out = Vec::new();
    for (var, value) in vars {
        let Some(rest) = var.strip_prefix(&prefix) else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        let fail = |why: String| (var.clone(), why);
        if path.len() < 2 || path.iter().any(String::is_empty) {
            return Err(fail(
                "expected DDS_BACKUP_SYNC__<SECTION>__<KEY>, e.g. DDS_BACKUP_SYNC__DOWNLOAD__DIR"
                    .into(),
            ));
        }
        if path[0] == "instances" || path[0] == "discover" {
            let section = &path[0];
            return Err(fail(format!(
                "[[{section}]] cannot be set from the environment; edit the file"
            )));
        }
        let value = typed(kind_at(&path).map_err(fail)?, value).map_err(fail)?;
        out.push(Override {
            var: var.clone(),
            path,
            value,
        });
    }
    Ok(out)
}

/// `value` as a TOML value of `kind`, parsed strictly.
fn typed(kind: Kind, value: &str) -> Result<toml::Value, String> {
    let expected = |what: &str| format!("must be {what} (got {value:?})");
    Ok(match kind {
        Kind::Integer => toml::Value::Integer(
            value
                .trim()
                .parse()
                .map_err(|_| expected("a whole number"))?,
        ),
        Kind::Float => toml::Value::Float(value.trim().parse().map_err(|_| expected("a number"))?),
        Kind::Boolean => match value.trim() {
            "true" => toml::Value::Boolean(true),
            "false" => toml::Value::Boolean(false),
            _ => return Err(expected("true or false")),
        },
        Kind::Text => toml::Value::String(value.to_string()),
        Kind::List => array(value).ok_or_else(|| expected("a TOML list, e.g. [\"a\", \"b\"]"))?,
        // A key that takes several shapes (`snapshots.instances`: "all" or a list): a list
        // when written as one, else the text.
        Kind::Any => array(value).unwrap_or_else(|| toml::Value::String(value.to_string())),
        Kind::Table => {
            return Err("is a table: set its keys one by one (…__<TABLE>__<KEY>)".into());
        }
    })
}

/// `value` read as a TOML array, if it is one.
fn array(value: &str) -> Option<toml::Value> {
    let doc: toml::Table = toml::from_str(&format!("v = {}", value.trim())).ok()?;
    doc.get("v").filter(|v| v.is_array()).cloned()
}

/// What a key's type asks a deserializer for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Float,
    Boolean,
    Text,
    List,
    Table,
    Any,
}

/// The kind of the key at `path` in the raw settings, or why there is none.
fn kind_at(path: &[String]) -> Result<Kind, String> {
    let found = Cell::new(None);
    let result = Raw::deserialize(Probe {
        path,
        found: &found,
    });
    match (found.get(), result) {
        (Some(kind), _) => Ok(kind),
        (None, Err(e)) => Err(super::one_line(&e.to_string())),
        (None, Ok(_)) => Err("is not a key of the settings".into()),
    }
}

/// A deserializer that walks `path` into the settings' structs and records what the type at
/// its end asks for, then stops (with an error: nothing is built).
struct Probe<'a> {
    path: &'a [String],
    found: &'a Cell<Option<Kind>>,
}

impl Probe<'_> {
    /// Records `kind` when the path ends here; the error that stops the walk either way.
    fn record(self, kind: Kind) -> DeError {
        if let Some(key) = self.path.first() {
            return de::Error::custom(format!("{key} is below a key that is not a table"));
        }
        self.found.set(Some(kind));
        de::Error::custom("probed")
    }
}

macro_rules! leaf {
    ($($method:ident => $kind:expr),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, _: V) -> Result<V::Value, DeError> {
            Err(self.record($kind))
        })*
    };
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = DeError;

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.path.split_first() {
            Some((key, rest)) => visitor.visit_map(OneKey {
                key: Some(key),
                value: Probe {
                    path: rest,
                    found: self.found,
                },
            }),
            None => Err(self.record(Kind::Table)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, DeError> {
        Err(self.record(Kind::Text))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: V,
    ) -> Result<V::Value, DeError> {
        Err(self.record(Kind::Any))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, DeError> {
        Err(self.record(Kind::List))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        _: V,
    ) -> Result<V::Value, DeError> {
        Err(self.record(Kind::List))
    }

    leaf! {
        deserialize_any => Kind::Any,
        deserialize_bool => Kind::Boolean,
        deserialize_i8 => Kind::Integer, deserialize_i16 => Kind::Integer,
        deserialize_i32 => Kind::Integer, deserialize_i64 => Kind::Integer,
        deserialize_u8 => Kind::Integer, deserialize_u16 => Kind::Integer,
        deserialize_u32 => Kind::Integer, deserialize_u64 => Kind::Integer,
        deserialize_f32 => Kind::Float, deserialize_f64 => Kind::Float,
        deserialize_char => Kind::Text, deserialize_str => Kind::Text,
        deserialize_string => Kind::Text, deserialize_identifier => Kind::Text,
        deserialize_bytes => Kind::Any, deserialize_byte_buf => Kind::Any,
        deserialize_unit => Kind::Any, deserialize_ignored_any => Kind::Any,
        deserialize_seq => Kind::List,
    }
}

/// A map of one key whose value is probed further.
struct OneKey<'a> {
    key: Option<&'a String>,
    value: Probe<'a>,
}

impl<'de> MapAccess<'de> for OneKey<'_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.key.take() {
            Some(key) => seed.deserialize(key.as_str().into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        seed.deserialize(Probe {
            path: self.value.path,
            found: self.value.found,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(path: &str) -> Result<Kind, String> {
        let path: Vec<String> = path.split('.').map(String::from).collect();
        kind_at(&path)
    }

    #[test]
    fn a_keys_kind_comes_from_the_settings_own_definition() {
        assert_eq!(kind("download.streams"), Ok(Kind::Integer));
        assert_eq!(kind("archive.prune.keep_daily"), Ok(Kind::Integer));
        assert_eq!(kind("archive.path_style"), Ok(Kind::Boolean));
        assert_eq!(kind("snapshots.latest_only"), Ok(Kind::Boolean));
        assert_eq!(kind("download.dir"), Ok(Kind::Text));
        assert_eq!(kind("download.network"), Ok(Kind::Text));
        assert_eq!(kind("api.access_key_secret"), Ok(Kind::Text));
        assert_eq!(kind("snapshots.instances"), Ok(Kind::Any));
        assert_eq!(kind("archive.prune"), Ok(Kind::Table));
        let unknown = kind("download.strams").unwrap_err();
        assert!(unknown.contains("strams"), "{unknown}");
        assert!(kind("download.dir.deeper").is_err());
    }

    #[test]
    fn values_are_parsed_strictly_as_their_kind() {
        assert_eq!(typed(Kind::Integer, "8"), Ok(toml::Value::Integer(8)));
        assert!(
            typed(Kind::Integer, "eight")
                .unwrap_err()
                .contains("whole number")
        );
        assert!(
            typed(Kind::Boolean, "yes")
                .unwrap_err()
                .contains("true or false")
        );
        assert_eq!(typed(Kind::Text, "8"), Ok(toml::Value::String("8".into())));
        assert_eq!(
            typed(Kind::Any, "all"),
            Ok(toml::Value::String("all".into()))
        );
        assert!(typed(Kind::Any, r#"["dds-1"]"#).unwrap().is_array());
    }
}
