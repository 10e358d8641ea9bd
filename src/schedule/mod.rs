//! Schedules: NCRONTAB expressions ([`cron`]), evaluated in a time zone
//! ([`zone`]), and when a job's next run is due by WebJobs' catch-up rules
//! ([`due`]).

pub mod cron;
pub mod due;
pub mod zone;

pub use cron::{Cron, CronError};
