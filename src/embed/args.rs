//! `IntoArgs` (embedding.md §2): what the embedding API accepts as the arguments of a spawned
//! entry's function.

use crate::value::Value;

/// Arguments for a spawned entry's function: `()`, a `Vec<Value>`, an array of values, or a
/// tuple of up to four things that convert into [`Value`].
///
/// ```
/// use moonweave::{IntoArgs, Value};
/// assert_eq!(().into_args(), Vec::<Value>::new());
/// assert_eq!((1, "two").into_args(), vec![Value::from(1), Value::from("two")]);
/// ```
pub trait IntoArgs {
    /// The arguments, in order.
    fn into_args(self) -> Vec<Value>;
}

impl IntoArgs for () {
    fn into_args(self) -> Vec<Value> {
        Vec::new()
    }
}

impl IntoArgs for Vec<Value> {
    fn into_args(self) -> Vec<Value> {
        self
    }
}

impl<const N: usize> IntoArgs for [Value; N] {
    fn into_args(self) -> Vec<Value> {
        self.into()
    }
}

macro_rules! tuple_args {
    ($($name:ident),+) => {
        impl<$($name: Into<Value>),+> IntoArgs for ($($name,)+) {
            #[allow(non_snake_case)]
            fn into_args(self) -> Vec<Value> {
                let ($($name,)+) = self;
                vec![$($name.into()),+]
            }
        }
    };
}

tuple_args!(A);
tuple_args!(A, B);
tuple_args!(A, B, C);
tuple_args!(A, B, C, D);
