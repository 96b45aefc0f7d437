//! `to_value`'s serializer: any `Serialize` type straight into a [`Value`], without an
//! intermediate format (so NaN and infinities stay numbers, and integer map keys stay
//! numbers). Structs and maps are tables, sequences array tables from 1, `None` and `()` nil,
//! enum variants their name or a one-key table; what a Lua value cannot hold exactly (integers
//! beyond ±2^53, map keys that are not strings or numbers) is an error.

use serde::ser::{self, Serialize};

use super::Error;
use crate::bytes::Bytes;
use crate::value::Value;

/// The largest integer magnitude a Lua number holds exactly.
const EXACT: u128 = 1 << 53;

fn integer(n: i128) -> Result<Value, Error> {
    if n.unsigned_abs() > EXACT {
        return Err(Error(format!(
            "{n} is beyond ±2^53: a Lua number cannot hold it exactly"
        )));
    }
    Ok(Value::Number(n as f64))
}

/// Serializes into a [`Value`].
pub(super) struct ValueSerializer;

/// A sequence being built: its items, nil ones left out (holes, as in Lua).
pub(super) struct Seq {
    items: Vec<(Value, Value)>,
    next: usize,
    /// The variant name, for a tuple variant.
    variant: Option<&'static str>,
}

/// A map or struct being built.
pub(super) struct Map {
    entries: Vec<(Value, Value)>,
    key: Option<Value>,
    variant: Option<&'static str>,
}

/// `{variant = value}`.
fn tagged(variant: &'static str, value: Value) -> Value {
    Value::Table(vec![(Value::from(variant), value)])
}

impl Seq {
    fn push(&mut self, value: Value) {
        self.next += 1;
        if !value.is_nil() {
            self.items.push((Value::Number(self.next as f64), value));
        }
    }

    fn finish(self) -> Value {
        let table = Value::Table(self.items);
        match self.variant {
            Some(name) => tagged(name, table),
            None => table,
        }
    }
}

impl Map {
    fn insert(&mut self, key: Value, value: Value) {
        if value.is_nil() {
            return;
        }
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    fn finish(self) -> Value {
        let table = Value::Table(self.entries);
        match self.variant {
            Some(name) => tagged(name, table),
            None => table,
        }
    }
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = Error;
    type SerializeSeq = Seq;
    type SerializeTuple = Seq;
    type SerializeTupleStruct = Seq;
    type SerializeTupleVariant = Seq;
    type SerializeMap = Map;
    type SerializeStruct = Map;
    type SerializeStructVariant = Map;

    fn serialize_bool(self, v: bool) -> Result<Value, Error> {
        Ok(Value::Boolean(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, Error> {
        integer(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<Value, Error> {
        integer(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<Value, Error> {
        integer(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<Value, Error> {
        integer(v.into())
    }
    fn serialize_i128(self, v: i128) -> Result<Value, Error> {
        integer(v)
    }
    fn serialize_u8(self, v: u8) -> Result<Value, Error> {
        integer(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<Value, Error> {
        integer(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<Value, Error> {
        integer(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<Value, Error> {
        integer(v.into())
    }
    fn serialize_u128(self, v: u128) -> Result<Value, Error> {
        i128::try_from(v)
            .map_err(|_| Error(format!("{v} is beyond ±2^53")))
            .and_then(integer)
    }
    fn serialize_f32(self, v: f32) -> Result<Value, Error> {
        Ok(Value::Number(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, Error> {
        Ok(Value::Number(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, Error> {
        Ok(Value::from(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, Error> {
        Ok(Value::from(v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, Error> {
        Ok(Value::String(Bytes::new(v)))
    }
    fn serialize_none(self) -> Result<Value, Error> {
        Ok(Value::Nil)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, Error> {
        Ok(Value::Nil)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Value, Error> {
        Ok(Value::Nil)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Value, Error> {
        Ok(Value::from(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Value, Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, Error> {
        Ok(tagged(variant, value.serialize(ValueSerializer)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Seq, Error> {
        Ok(Seq {
            items: Vec::with_capacity(len.unwrap_or(0)),
            next: 0,
            variant: None,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Seq, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Seq, Error> {
        let mut seq = self.serialize_seq(Some(len))?;
        seq.variant = Some(variant);
        Ok(seq)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Map, Error> {
        Ok(Map {
            entries: Vec::new(),
            key: None,
            variant: None,
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Map, Error> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Map, Error> {
        let mut map = self.serialize_map(None)?;
        map.variant = Some(variant);
        Ok(map)
    }
}

impl ser::SerializeSeq for Seq {
    type Ok = Value;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.push(value.serialize(ValueSerializer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        Ok(self.finish())
    }
}

impl ser::SerializeTuple for Seq {
    type Ok = Value;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, Error> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleStruct for Seq {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, Error> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleVariant for Seq {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, Error> {
        Ok(self.finish())
    }
}

/// A map key: a string or a number (as Lua table keys are); anything else is an error.
fn key<T: Serialize + ?Sized>(key: &T) -> Result<Value, Error> {
    match key.serialize(ValueSerializer)? {
        k @ (Value::String(_) | Value::Number(_)) if !matches!(k, Value::Number(n) if n.is_nan()) => {
            Ok(k)
        }
        other => Err(Error(format!(
            "a map key must be a string or a number, not {}",
            other.type_name()
        ))),
    }
}

impl ser::SerializeMap for Map {
    type Ok = Value;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Error> {
        self.key = Some(key(k)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let k = self
            .key
            .take()
            .ok_or_else(|| Error("a map value without its key".into()))?;
        let v = value.serialize(ValueSerializer)?;
        self.insert(k, v);
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        Ok(self.finish())
    }
}

impl ser::SerializeStruct for Map {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        let v = value.serialize(ValueSerializer)?;
        self.insert(Value::from(name), v);
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        Ok(self.finish())
    }
}

impl ser::SerializeStructVariant for Map {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(self, name, value)
    }
    fn end(self) -> Result<Value, Error> {
        Ok(self.finish())
    }
}
