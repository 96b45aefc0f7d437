//! Values across the wire: moonweave values ↔ Erlang terms (the table in
//! `docs/src/distribution.md`), and a message's topic and payload ↔ one term.
//!
//! Strings are binaries both ways and atoms arrive as strings, so nothing a Lua process sends
//! creates an atom on the other node except a message's topic (a name the code chose) and the
//! explicit `{["$atom"] = name}` form. Terms with no Lua counterpart (references, ports, funs,
//! improper lists, bit strings) arrive as `{["$term"] = <external term format bytes>}` and go
//! back out unchanged, so a Lua process can answer a `gen_server:call`.

use eetf::{Atom, Binary, FixInteger, Float, List, Map, Term, Tuple};

use crate::bytes::Bytes;
use crate::error::{ErrorKind, ErrorValue};
use crate::value::{Payload, Value};

/// The topic of a message whose term is not a tagged tuple, and the topic whose one payload
/// value is sent as the whole term.
pub const TERM_TOPIC: &str = "$term";
/// The key marking an array as a tuple.
pub const TUPLE_KEY: &str = "$tuple";
/// The key of an atom sent on purpose.
pub const ATOM_KEY: &str = "$atom";
/// The key holding the external term format of a term with no Lua counterpart.
pub const TERM_KEY: &str = "$term";
/// The first element of the tuple an error object becomes.
const ERROR_TAG: &str = "moonweave_error";
/// Whole numbers within ±2^53 are integers on the wire.
const MAX_SAFE: f64 = 9_007_199_254_740_992.0;
/// Terms nested deeper than this are refused (as deep tables are by a local send).
const MAX_DEPTH: usize = crate::lua::convert::MAX_DEPTH;

fn invalid(message: impl Into<Bytes>) -> ErrorValue {
    ErrorValue::new(ErrorKind::Invalid, message)
}

/// How PIDs are written and read while converting: the node's own and other nodes' PIDs.
pub trait PidCodec {
    /// The PID term a PID text stands for, or `None` when the text is not a PID.
    fn encode_pid(&self, text: &[u8]) -> Option<eetf::Pid>;
    /// The PID text of a PID term.
    fn decode_pid(&self, pid: &eetf::Pid) -> String;
}

/// The term a message with `topic` and `payload` becomes: `{topic, payload...}` with the topic
/// as an atom, or the one payload value itself for the topic `$term`.
pub fn message_to_term(
    topic: &[u8],
    payload: &Payload,
    pids: &dyn PidCodec,
) -> Result<Term, ErrorValue> {
    let values = payload.as_slice();
    if topic == TERM_TOPIC.as_bytes() {
        return match values {
            [value] => to_term(value, pids, 0),
            _ => Err(invalid(
                "send: the topic '$term' takes exactly one payload value (the whole term)",
            )),
        };
    }
    let mut elements = Vec::with_capacity(values.len() + 1);
    elements.push(Term::from(topic_atom(topic)?));
    for value in values {
        elements.push(to_term(value, pids, 0)?);
    }
    Ok(Term::from(Tuple { elements }))
}

fn topic_atom(topic: &[u8]) -> Result<Atom, ErrorValue> {
    let Ok(text) = std::str::from_utf8(topic) else {
        return Err(invalid(
            "send: a topic sent to another node must be UTF-8 (it becomes an atom)",
        ));
    };
    if text.chars().count() > 255 {
        return Err(invalid(
            "send: a topic sent to another node must be at most 255 characters (it becomes an atom)",
        ));
    }
    Ok(Atom::from(text))
}

/// The topic and payload a received term becomes: a tuple whose first element is an atom
/// that is a valid topic gives that topic and the other elements; anything else is the topic
/// `$term` with the term as its one value.
pub fn term_to_message(term: Term, pids: &dyn PidCodec) -> (Bytes, Payload) {
    if let Term::Tuple(tuple) = &term
        && let Some(Term::Atom(atom)) = tuple.elements.first()
        && crate::sched::valid_topic(atom.name.as_bytes())
    {
        let Term::Tuple(tuple) = term else {
            unreachable!("matched above")
        };
        let mut elements = tuple.elements.into_iter();
        let Some(Term::Atom(topic)) = elements.next() else {
            unreachable!("matched above")
        };
        let values: Vec<Value> = elements.map(|t| from_term(t, pids, 0)).collect();
        return (Bytes::new(topic.name.as_bytes()), Payload::from(values));
    }
    (
        Bytes::new(TERM_TOPIC.as_bytes()),
        Payload::One(from_term(term, pids, 0)),
    )
}

/// The term `value` becomes (see the module documentation).
pub fn to_term(value: &Value, pids: &dyn PidCodec, depth: usize) -> Result<Term, ErrorValue> {
    if depth >= MAX_DEPTH {
        return Err(invalid(format!(
            "cannot send tables nested deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(match value {
        Value::Nil => Term::from(Atom::from("nil")),
        Value::Boolean(b) => Term::from(Atom::from(if *b { "true" } else { "false" })),
        Value::Number(n) => number_term(*n)?,
        Value::String(bytes) => match pids.encode_pid(bytes.as_bytes()) {
            Some(pid) => Term::from(pid),
            None => Term::from(Binary::from(bytes.as_bytes())),
        },
        Value::Table(pairs) => table_term(pairs, pids, depth)?,
        Value::Error(error) => Term::from(Tuple::from(vec![
            Term::from(Atom::from(ERROR_TAG)),
            Term::from(Atom::from(error.kind.name())),
            Term::from(Binary::from(error.message.as_bytes())),
        ])),
    })
}

fn number_term(n: f64) -> Result<Term, ErrorValue> {
    if !n.is_finite() {
        return Err(invalid(format!(
            "cannot send {n} to another node (Erlang floats are finite)"
        )));
    }
    if n.fract() == 0.0 && n.abs() <= MAX_SAFE {
        let whole = n as i64;
        return Ok(match i32::try_from(whole) {
            Ok(small) => Term::from(FixInteger::from(small)),
            Err(_) => Term::from(eetf::BigInteger::from(whole)),
        });
    }
    Ok(Term::from(Float { value: n }))
}

/// A string key's text, if `key` is the string `name`.
fn is_key(key: &Value, name: &str) -> bool {
    matches!(key, Value::String(s) if s.as_bytes() == name.as_bytes())
}

fn table_term(
    pairs: &[(Value, Value)],
    pids: &dyn PidCodec,
    depth: usize,
) -> Result<Term, ErrorValue> {
    if let [(key, Value::String(bytes))] = pairs {
        if is_key(key, TERM_KEY) {
            // Lua code wrote these bytes: the (recursive, trusting) decoder sees only what
            // the iterative check accepts.
            return match super::depth::check_term(bytes.as_bytes()) {
                Ok(()) => Term::decode(bytes.as_bytes())
                    .map_err(|e| invalid(format!("a '$term' value is not a term: {e}"))),
                Err(super::depth::Refused::TooDeep) => Err(invalid(format!(
                    "a '$term' value nests deeper than {} levels",
                    super::depth::MAX_NESTING
                ))),
                Err(super::depth::Refused::Malformed) => Err(invalid(
                    "a '$term' value is not a term in the external term format",
                )),
            };
        }
        if is_key(key, ATOM_KEY) {
            let Some(text) = bytes.as_str().filter(|t| t.chars().count() <= 255) else {
                return Err(invalid(
                    "an '$atom' value must be UTF-8 of at most 255 characters",
                ));
            };
            return Ok(Term::from(Atom::from(text)));
        }
    }
    let tuple = pairs
        .iter()
        .any(|(k, v)| is_key(k, TUPLE_KEY) && matches!(v, Value::Boolean(true)));
    let rest = pairs
        .iter()
        .filter(|(k, _)| !(tuple && is_key(k, TUPLE_KEY)));
    if let Some(elements) = sequence(rest.clone()) {
        let terms = elements
            .into_iter()
            .map(|v| to_term(v, pids, depth + 1))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(if tuple {
            Term::from(Tuple::from(terms))
        } else {
            Term::from(List::from(terms))
        });
    }
    if tuple {
        return Err(invalid(
            "a table marked '$tuple' must otherwise be an array (keys 1..n)",
        ));
    }
    let mut map = std::collections::HashMap::with_capacity(pairs.len());
    for (k, v) in rest {
        map.insert(to_term(k, pids, depth + 1)?, to_term(v, pids, depth + 1)?);
    }
    Ok(Term::from(Map::from(map)))
}

/// The values of `pairs` in key order when the keys are exactly 1..n (n may be 0).
fn sequence<'a>(pairs: impl Iterator<Item = &'a (Value, Value)>) -> Option<Vec<&'a Value>> {
    let mut slots: Vec<Option<&Value>> = Vec::new();
    for (key, value) in pairs {
        let Value::Number(n) = key else {
            return None;
        };
        if n.fract() != 0.0 || *n < 1.0 || *n > MAX_SAFE {
            return None;
        }
        let index = *n as usize - 1;
        if index >= slots.len() {
            if index > 4 * slots.len() + 16 {
                return None; // sparse: a map
            }
            slots.resize(index + 1, None);
        }
        slots[index] = Some(value);
    }
    slots.into_iter().collect()
}

/// The value a received term becomes (see the module documentation).
pub fn from_term(term: Term, pids: &dyn PidCodec, depth: usize) -> Value {
    if depth >= MAX_DEPTH {
        return Value::Error(Box::new(invalid(format!(
            "a term nested deeper than {MAX_DEPTH} levels"
        ))));
    }
    match term {
        Term::Atom(atom) => match atom.name.as_str() {
            "true" => Value::Boolean(true),
            "false" => Value::Boolean(false),
            "nil" => Value::Nil,
            name => Value::string(name),
        },
        Term::FixInteger(i) => Value::Number(f64::from(i.value)),
        Term::BigInteger(big) => match i64::try_from(&big.value) {
            Ok(n) if (n as f64).abs() <= MAX_SAFE => Value::Number(n as f64),
            _ => Value::Error(Box::new(invalid(format!(
                "the integer {} is outside ±2^53 (a Lua number would round it)",
                big.value
            )))),
        },
        Term::Float(f) => Value::Number(f.value),
        Term::Pid(pid) => Value::string(pids.decode_pid(&pid)),
        Term::Binary(b) => Value::String(Bytes::new(&b.bytes)),
        Term::ByteList(list) => array(
            list.bytes
                .into_iter()
                .map(|b| Value::Number(f64::from(b)))
                .collect(),
            false,
        ),
        Term::List(list) => array(
            list.elements
                .into_iter()
                .map(|t| from_term(t, pids, depth + 1))
                .collect(),
            false,
        ),
        Term::Tuple(tuple) => error_object(&tuple).unwrap_or_else(|| {
            array(
                tuple
                    .elements
                    .into_iter()
                    .map(|t| from_term(t, pids, depth + 1))
                    .collect(),
                true,
            )
        }),
        Term::Map(map) => Value::Table(
            map.map
                .into_iter()
                .filter_map(|(k, v)| {
                    let key = match from_term(k, pids, depth + 1) {
                        Value::Nil => Value::string("nil"),
                        Value::Number(n) if n.is_nan() => return None,
                        key => key,
                    };
                    match from_term(v, pids, depth + 1) {
                        Value::Nil => None,
                        value => Some((key, value)),
                    }
                })
                .collect(),
        ),
        opaque => {
            let mut bytes = Vec::new();
            match opaque.encode(&mut bytes) {
                Ok(()) => Value::Table(vec![(
                    Value::string(TERM_KEY),
                    Value::String(Bytes::new(&bytes)),
                )]),
                Err(e) => Value::Error(Box::new(invalid(format!(
                    "a term that cannot be kept: {e}"
                )))),
            }
        }
    }
}

/// The error object `{moonweave_error, KIND, <<message>>}` stands for.
fn error_object(tuple: &Tuple) -> Option<Value> {
    let [Term::Atom(tag), Term::Atom(kind), Term::Binary(message)] = tuple.elements.as_slice()
    else {
        return None;
    };
    if tag.name != ERROR_TAG {
        return None;
    }
    let kind = ErrorKind::from_name(&kind.name)?;
    Some(Value::Error(Box::new(ErrorValue::new(
        kind,
        Bytes::new(&message.bytes),
    ))))
}

/// An array of `values` (keys 1..n; `nil` elements leave holes), marked as a tuple or not.
fn array(values: Vec<Value>, tuple: bool) -> Value {
    let mut pairs: Vec<(Value, Value)> = values
        .into_iter()
        .enumerate()
        .filter(|(_, v)| !matches!(v, Value::Nil))
        .map(|(i, v)| (Value::Number((i + 1) as f64), v))
        .collect();
    if tuple {
        pairs.push((Value::string(TUPLE_KEY), Value::Boolean(true)));
    }
    Value::Table(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoPids;
    impl PidCodec for NoPids {
        fn encode_pid(&self, _: &[u8]) -> Option<eetf::Pid> {
            None
        }
        fn decode_pid(&self, pid: &eetf::Pid) -> String {
            format!("{{{}|<0.{}.{}>}}", pid.node.name, pid.id, pid.serial)
        }
    }

    fn round_trip(value: Value) -> Value {
        let term = to_term(&value, &NoPids, 0).expect("convertible");
        let mut bytes = Vec::new();
        term.encode(&mut bytes).expect("encodable");
        from_term(Term::decode(&bytes[..]).expect("decodable"), &NoPids, 0)
    }

    #[test]
    fn scalars_round_trip() {
        for value in [
            Value::Nil,
            Value::Boolean(true),
            Value::Boolean(false),
            Value::Number(42.0),
            Value::Number(-(2f64.powi(53))),
            Value::Number(2f64.powi(40)),
            Value::Number(1.5),
            Value::string("bytes \u{0} \u{ff}"),
        ] {
            assert_eq!(round_trip(value.clone()), value);
        }
    }

    #[test]
    fn tuples_round_trip_and_arrays_become_lists() {
        let tuple = Value::Table(vec![
            (Value::Number(1.0), Value::string("a")),
            (Value::Number(2.0), Value::Number(2.0)),
            (Value::string(TUPLE_KEY), Value::Boolean(true)),
        ]);
        assert_eq!(round_trip(tuple.clone()), tuple);
        let term = to_term(&tuple, &NoPids, 0).unwrap();
        assert!(matches!(term, Term::Tuple(ref t) if t.elements.len() == 2));
        let list = Value::Table(vec![(Value::Number(1.0), Value::Number(7.0))]);
        assert!(matches!(to_term(&list, &NoPids, 0).unwrap(), Term::List(_)));
    }

    #[test]
    fn big_integers_arrive_as_invalid_errors_not_rounded() {
        let big = Term::from(eetf::BigInteger::from(i64::MAX));
        match from_term(big, &NoPids, 0) {
            Value::Error(e) => assert_eq!(e.kind, ErrorKind::Invalid),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn opaque_terms_round_trip_byte_for_byte() {
        let reference = Term::from(eetf::Reference {
            node: Atom::from("n@h"),
            id: vec![1, 2, 3],
            creation: 7,
        });
        let improper = Term::from(eetf::ImproperList::from((
            vec![Term::from(Atom::from("alias"))],
            reference.clone(),
        )));
        for term in [reference, improper] {
            let value = from_term(term.clone(), &NoPids, 0);
            assert_eq!(to_term(&value, &NoPids, 0).unwrap(), term);
        }
    }

    #[test]
    fn messages_are_tagged_tuples_or_whole_terms() {
        let term = message_to_term(b"hello", &Payload::One(Value::Number(1.0)), &NoPids).unwrap();
        let (topic, payload) = term_to_message(term, &NoPids);
        assert_eq!(topic.as_bytes(), b"hello");
        assert_eq!(payload, Payload::One(Value::Number(1.0)));
        let (topic, payload) = term_to_message(Term::from(FixInteger::from(5)), &NoPids);
        assert_eq!(topic.as_bytes(), TERM_TOPIC.as_bytes());
        assert_eq!(payload, Payload::One(Value::Number(5.0)));
    }

    #[test]
    fn errors_and_non_finite_numbers() {
        let error = Value::Error(Box::new(ErrorValue::new(ErrorKind::Timeout, "late")));
        match round_trip(error) {
            Value::Error(e) => {
                assert_eq!(e.kind, ErrorKind::Timeout);
                assert_eq!(e.message.as_bytes(), b"late");
            }
            other => panic!("expected an error, got {other:?}"),
        }
        assert!(to_term(&Value::Number(f64::NAN), &NoPids, 0).is_err());
    }

    #[test]
    fn term_bytes_from_lua_are_checked_before_decoding() {
        let mut deep = vec![131];
        for _ in 0..1_000_000 {
            deep.extend_from_slice(&[108, 0, 0, 0, 1]);
        }
        deep.extend(std::iter::repeat_n(106, 1_000_001));
        for bytes in [
            deep,
            vec![131, 68, 0],
            vec![131, 104, 1, 82, 0],
            vec![131, 108, 255, 255, 255, 255, 106],
        ] {
            let value = Value::Table(vec![(
                Value::string(TERM_KEY),
                Value::String(Bytes::new(&bytes)),
            )]);
            let error = to_term(&value, &NoPids, 0).expect_err("refused");
            assert_eq!(error.kind, ErrorKind::Invalid);
        }
    }
}
