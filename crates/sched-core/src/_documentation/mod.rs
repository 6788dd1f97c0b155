//! The specification of sched: DST rules, misfire/coalesce/max-instances, claims,
//! leases, the runtime's steps and events. (Rendered from `docs/design.md`; the module
//! holds no code.)
//!
#![doc = include_str!("design.md")]
