//! The runtime: one task that claims due runs (`driver`), and one task per run
//! (`execute`).

mod driver;
mod execute;
mod maintenance;
pub(crate) mod running;

pub(crate) use self::driver::run;
pub(crate) use self::execute::{drain, flush, Completions};
