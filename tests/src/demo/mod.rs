//! The `demo` binary's parts: a complete local store and HQ on one machine, fed by virtual
//! devices through the agent's real drivers (`src/bin/demo.rs` keeps only
//! its command line and the run itself).
//!
//! - [`command`]: one HQ command's round trip (a status report to store s1), from the API.
//! - [`webhook`]: a webhook receiver inside the demo that checks HMAC signatures.
//! - [`day`]: the store day as a timed plan of device actions, and the stock it leaves.
//! - [`devices`]: the virtual devices (serial scanner on a pty, HID POS scanner on a FIFO, till
//!   and receipt printer around the ESC/POS tap, Xovis door counter).
//! - [`play`]: plays the plan on the devices on the simulated clock.
//! - [`hq`]: HQ's API as an operator sees it: alerts and staffing signals as they appear.
//! - [`stores`]: the two stores' agents, store s1's drivers, and each agent's status line.
//! - [`summary`]: the closing summary and the zero-loss verdict.
//! - [`kpis`]: the day's KPI table per store, and where the history is.
//! - [`stop`]: Ctrl-C and SIGTERM, and stopping the processes in order.
//! - [`dir`]: the temporary directory, kept when something went wrong.
//! - [`text`]: numbers as the demo prints them.

pub mod command;
pub mod day;
pub mod devices;
pub mod dir;
pub mod hq;
pub mod kpis;
pub mod play;
pub mod stop;
pub mod stores;
pub mod summary;
pub mod text;
pub mod webhook;
