//! The runtime: one task that claims due runs (`driver`); runs start in groups, one
//! task per group, and a run that does not end at its first poll goes on in a task of
//! its own (`execute`).

mod driver;
mod execute;
mod maintenance;
pub(crate) mod running;

pub(crate) use self::driver::run;
pub(crate) use self::execute::{drain, flush, Completions};
