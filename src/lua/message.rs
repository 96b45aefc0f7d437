//! Message objects: what `inbox():receive()` returns (process.md §4).

use mlua::{
    AnyUserData, Lua, MetaMethod, MultiValue, UserData, UserDataMethods, Value as LuaValue,
};

use super::convert;
use crate::proc::Envelope;

/// A received message. The payload is turned into Lua values on the first `payload()` call and
/// kept, so that repeated calls return the same tables.
pub struct Message {
    envelope: Envelope,
}

impl Message {
    pub fn new(envelope: Envelope) -> Self {
        Self { envelope }
    }
}

impl UserData for Message {
    fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
        fields.add_meta_field("__type", "Message");
    }

    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("topic", |_, this, ()| Ok(this.envelope.topic.to_string()));
        methods.add_method("from", |_, this, ()| {
            Ok(this.envelope.from.as_deref().map(str::to_string))
        });
        methods.add_function("payload", |lua, ud: AnyUserData| payload(lua, &ud));
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("Message({})", this.envelope.topic))
        });
    }
}

fn payload(lua: &Lua, ud: &AnyUserData) -> mlua::Result<MultiValue> {
    let cached: LuaValue = ud.user_value()?;
    let values = match cached {
        LuaValue::Table(values) => values,
        _ => {
            let this = ud.borrow::<Message>()?;
            let values =
                lua.create_sequence_from(convert::from_values(lua, &this.envelope.payload)?)?;
            values.raw_set("n", this.envelope.payload.len())?;
            drop(this);
            ud.set_user_value(&values)?;
            values
        }
    };
    let n: usize = values.raw_get("n")?;
    (1..=n).map(|i| values.raw_get::<LuaValue>(i)).collect()
}
