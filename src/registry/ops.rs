//! Op routine.
#![allow(missing_docs)]
