//! How a core error is answered on the wire.
//!
//! Every error type in the core implements [`WireError`], so a transport never has to invent a
//! status or a code: it asks the error. Codes are stable identifiers (`snake_case`, ASCII) that
//! clients and the conformance vectors match on; the human text (`Display`) may change.

/// An error that has a fixed answer on the wire.
pub trait WireError: core::error::Error {
    /// The stable machine-readable code, e.g. `"signature_invalid"`.
    fn code(&self) -> &'static str;
    /// The HTTP status a transport answers with, e.g. 401.
    fn http_status(&self) -> u16;
}

/// Implements `Display`, `core::error::Error` and [`WireError`] for a fieldless-or-not enum from
/// one table, so the message, code and status of a variant are written side by side.
macro_rules! wire_error {
    ($ty:ty { $($pat:pat => ($status:expr, $code:expr, $($msg:tt)+)),+ $(,)? }) => {
        impl core::fmt::Display for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                #[allow(unused_variables)]
                match self { $($pat => write!(f, $($msg)+)),+ }
            }
        }
        impl core::error::Error for $ty {}
        impl $crate::wire::WireError for $ty {
            fn code(&self) -> &'static str {
                #[allow(unused_variables)]
                match self { $($pat => $code),+ }
            }
            fn http_status(&self) -> u16 {
                #[allow(unused_variables)]
                match self { $($pat => $status),+ }
            }
        }
    };
}
pub(crate) use wire_error;
