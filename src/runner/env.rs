//! The environment a job sees: host app settings, then WebJobs' variables
//! (which win), and nothing from the host's own environment.

use crate::config::HostConfig;
use crate::job::Job;
use crate::runtime::executor::Dirs;

/// The shutdown file's name in the run's private tmp (it does not exist
/// until the host asks the job to stop).
pub const SHUTDOWN_FILE_NAME: &str = "webjobs-shutdown";

/// Builds the job's environment for one run; `seen` is how the job sees
/// its folders (the executor's view).
pub fn job_env(
    host: &HostConfig,
    job: &Job,
    run_id: &str,
    args: &[String],
    seen: &Dirs,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| {
        env.retain(|(old, _)| old != k);
        env.push((k.to_string(), v));
    };
    for (k, v) in &host.app_settings {
        set(k, v.clone());
    }
    set("WEBJOBS_NAME", job.name.clone());
    set("WEBJOBS_TYPE", job.job_type.as_str().to_string());
    let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
    set("WEBJOBS_PATH", path(&seen.work));
    set("WEBJOBS_DATA_PATH", path(&seen.data));
    // WebJobs gives continuous jobs a shutdown file; here triggered runs
    // get one too (a stop request is graceful for them as well).
    set(
        "WEBJOBS_SHUTDOWN_FILE",
        path(&seen.tmp.join(SHUTDOWN_FILE_NAME)),
    );
    set("WEBJOBS_RUN_ID", run_id.to_string());
    // The site's variable on WebJobs; here the host's short instance id
    // (which host of a cluster runs the job).
    set("WEBSITE_INSTANCE_ID", host.instance.clone());
    if !args.is_empty() {
        set("WEBJOBS_COMMAND_ARGUMENTS", args.join(" "));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::settings::Settings;
    use crate::job::JobType;

    #[test]
    fn webjobs_variables_win_over_app_settings() {
        let mut host = HostConfig::new("/nonexistent".into()).unwrap();
        host.app_settings = vec![
            ("WEBJOBS_NAME".into(), "spoof".into()),
            ("GREETING".into(), "hi".into()),
        ];
        let job = Job {
            name: "hello".into(),
            job_type: JobType::Triggered,
            dir: "/x".into(),
            run_command: Some("run.js".into()),
            script: None,
            error: None,
            settings: Settings::default(),
        };
        let seen = Dirs {
            work: "/job".into(),
            data: "/data".into(),
            tmp: "/tmp".into(),
        };
        let env = job_env(
            &host,
            &job,
            "201901010000000000",
            &["a".into(), "b".into()],
            &seen,
        );
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("WEBJOBS_NAME"), Some("hello"));
        assert_eq!(get("WEBJOBS_PATH"), Some("/job"));
        assert_eq!(get("WEBJOBS_SHUTDOWN_FILE"), Some("/tmp/webjobs-shutdown"));
        assert_eq!(get("GREETING"), Some("hi"));
        assert_eq!(get("WEBJOBS_COMMAND_ARGUMENTS"), Some("a b"));
        assert_eq!(get("PATH"), None);
    }
}
