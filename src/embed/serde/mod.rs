//! The `serde` feature (embedding.md §4): any `Serialize` type into a [`Value`] and a
//! [`Value`] back into any `Deserialize` type. Structs and maps are tables with string keys,
//! sequences are array tables (from key 1), `None` and `()` are nil; an empty table reads as
//! whatever the target expects (an empty sequence or an empty map).

mod ser;

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::{Deserializer, Serialize};

use crate::error::{ErrorKind, ErrorValue};
use crate::value::Value;

/// The largest integer magnitude a Lua number holds exactly: 2^53.
const EXACT: f64 = 9_007_199_254_740_992.0;

fn invalid(message: impl std::fmt::Display) -> ErrorValue {
    ErrorValue::new(ErrorKind::Invalid, message.to_string())
}

/// `value` as a [`Value`]: `INVALID` for what a Lua value cannot hold exactly (integers
/// beyond ±2^53, map keys that are not strings or numbers).
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Order { id: u32, items: Vec<String>, note: Option<String> }
/// let v = moonweave::to_value(&Order { id: 7, items: vec!["tea".into()], note: None }).unwrap();
/// assert_eq!(v.get("id").and_then(|v| v.as_integer()), Some(7));
/// assert_eq!(v.get("items").and_then(|i| i.index(1)).and_then(|v| v.as_str()), Some("tea"));
/// assert!(v.get("note").is_none());
/// ```
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, ErrorValue> {
    value
        .serialize(ser::ValueSerializer)
        .map_err(|e| invalid(e.0))
}

/// `value` as a `T`: `INVALID` naming what does not fit.
///
/// ```
/// #[derive(serde::Deserialize, Debug, PartialEq)]
/// struct Point { x: f64, y: f64 }
/// let v = moonweave::Value::table([("x".into(), 1.5.into()), ("y".into(), (-2).into())]);
/// assert_eq!(moonweave::from_value::<Point>(&v).unwrap(), Point { x: 1.5, y: -2.0 });
/// ```
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, ErrorValue> {
    T::deserialize(ValueDeserializer(value)).map_err(|e| invalid(e.0))
}

/// A (de)serialisation error's text.
#[derive(Debug)]
struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

impl serde::ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// Reads a [`Value`] as serde data.
struct ValueDeserializer<'a>(&'a Value);

/// The array items of a table whose keys are exactly 1..n, in order.
fn as_array(entries: &[(Value, Value)]) -> Option<Vec<&Value>> {
    let mut items: Vec<Option<&Value>> = vec![None; entries.len()];
    for (k, v) in entries {
        let Value::Number(n) = k else { return None };
        let i = *n as usize;
        if *n != i as f64 || i == 0 || i > entries.len() {
            return None;
        }
        items[i - 1] = Some(v);
    }
    items.into_iter().collect()
}

impl<'de> Deserializer<'de> for ValueDeserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Nil => visitor.visit_unit(),
            Value::Boolean(b) => visitor.visit_bool(*b),
            Value::Number(n) if n.fract() == 0.0 && n.abs() <= EXACT => {
                visitor.visit_i64(*n as i64)
            }
            Value::Number(n) => visitor.visit_f64(*n),
            Value::String(bytes) => match std::str::from_utf8(bytes.as_bytes()) {
                Ok(s) => visitor.visit_str(s),
                Err(_) => visitor.visit_bytes(bytes.as_bytes()),
            },
            Value::Table(entries) => match as_array(entries) {
                Some(items) if !items.is_empty() => visitor.visit_seq(Seq(items.into_iter())),
                _ => visitor.visit_map(Map {
                    entries: entries.iter(),
                    value: None,
                }),
            },
            Value::Error(e) => Err(Error(format!(
                "an error value ({}) cannot be deserialized",
                e.kind
            ))),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Nil => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Table(entries) => match as_array(entries) {
                Some(items) => visitor.visit_seq(Seq(items.into_iter())),
                None => Err(Error(
                    "a table with keys other than 1..n is not a sequence".into(),
                )),
            },
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Table(entries) => visitor.visit_map(Map {
                entries: entries.iter(),
                value: None,
            }),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            // A unit variant: its name.
            Value::String(_) => match self.0.as_str() {
                Some(s) => visitor.visit_enum(s.into_deserializer()),
                None => Err(Error("an enum variant name must be UTF-8".into())),
            },
            // A variant with data: a table with one key, the variant's name.
            Value::Table(entries) if entries.len() == 1 => {
                visitor.visit_enum(Enum(&entries[0].0, &entries[0].1))
            }
            _ => Err(Error(
                "an enum is a variant name or a table with one key".into(),
            )),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Nil => visitor.visit_unit(),
            // An empty table is also "nothing" (serde_json writes `()` as null, Lua keeps {}).
            Value::Table(entries) if entries.is_empty() => visitor.visit_unit(),
            _ => self.deserialize_any(visitor),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit_struct newtype_struct identifier ignored_any
    }
}

struct Seq<'a, I: Iterator<Item = &'a Value>>(I);

impl<'de, I: Iterator<Item = &'de Value>> de::SeqAccess<'de> for Seq<'de, I> {
    type Error = Error;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0
            .next()
            .map(|v| seed.deserialize(ValueDeserializer(v)))
            .transpose()
    }
}

struct Map<'a> {
    entries: std::slice::Iter<'a, (Value, Value)>,
    value: Option<&'a Value>,
}

impl<'de> de::MapAccess<'de> for Map<'de> {
    type Error = Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(KeyDeserializer(key)).map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self
            .value
            .take()
            .ok_or_else(|| Error("a map value without its key".into()))?;
        seed.deserialize(ValueDeserializer(value))
    }
}

/// A table key: strings as they are, numbers also readable as strings (for maps keyed by
/// `String`).
struct KeyDeserializer<'a>(&'a Value);

impl<'de> Deserializer<'de> for KeyDeserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        ValueDeserializer(self.0).deserialize_any(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Number(n) => visitor.visit_string(crate::lua::convert::number_text(*n)),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct Enum<'a>(&'a Value, &'a Value);

impl<'de> de::EnumAccess<'de> for Enum<'de> {
    type Error = Error;
    type Variant = ValueDeserializer<'de>;

    fn variant_seed<V: de::DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), Error> {
        let variant = seed.deserialize(KeyDeserializer(self.0))?;
        Ok((variant, ValueDeserializer(self.1)))
    }
}

impl<'de> de::VariantAccess<'de> for ValueDeserializer<'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }
}
