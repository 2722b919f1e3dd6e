//! The `demo` binary's parts: a complete local store and HQ on one machine, fed by virtual
//! devices through the agent's real drivers (see `src/bin/demo.rs` for the run itself).
//!
//! - [`day`]: the store day as a timed plan of device actions, and the stock it leaves.
//! - [`devices`]: the virtual devices (serial scanner on a pty, HID POS scanner on a FIFO, till
//!   and receipt printer around the ESC/POS tap, Xovis door counter).
//! - [`play`]: plays the plan on the devices on the simulated clock.
//! - [`hq`]: HQ's API as an operator sees it: alerts and staffing signals as they appear.

pub mod day;
pub mod devices;
pub mod hq;
pub mod play;
