//! Schedules: NCRONTAB expressions ([`cron`]), evaluated in a time zone
//! ([`zone`]).

pub mod cron;
pub mod zone;

pub use cron::{Cron, CronError};
