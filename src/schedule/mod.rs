//! Schedules: NCRONTAB expressions ([`cron`]), evaluated in a time zone
//! ([`zone`]), when a job's next run is due by WebJobs' catch-up rules
//! ([`due`]), and one job's schedule as its trigger follows it, overlap
//! policy included ([`timetable`]).

pub mod cron;
pub mod due;
pub mod timetable;
pub mod zone;

pub use cron::{Cron, CronError};
