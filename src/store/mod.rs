//! On-disk state, kept exactly where WebJobs keeps it: job folders under
//! `jobs/`, run history under `data/jobs/`, working copies under `temp/`.

pub mod disk;
pub mod fsutil;
pub mod history;
pub mod instance;
pub mod layout;
pub mod lock;
pub mod logline;
pub mod run;
pub mod trash;
