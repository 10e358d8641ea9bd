//! The command line's spellings of the domain's choices (`--executor`,
//! `--native-sandbox`, `--type`): clap's derives stay in the CLI, and each
//! converts into the domain type it names.

use crate::job::JobType;
use crate::runtime::ExecutorChoice;
use crate::runtime::native::SandboxMode;

/// `--executor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExecutorArg {
    /// The wasm guest wherever one exists and can run here, the native
    /// sandbox otherwise (each fallback said in the run's log).
    Auto,
    /// Only WebAssembly guests.
    Wasm,
    /// Only the native sandbox.
    Native,
}

impl From<ExecutorArg> for ExecutorChoice {
    fn from(a: ExecutorArg) -> ExecutorChoice {
        match a {
            ExecutorArg::Auto => ExecutorChoice::Auto,
            ExecutorArg::Wasm => ExecutorChoice::Wasm,
            ExecutorArg::Native => ExecutorChoice::Native,
        }
    }
}

/// `--native-sandbox`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SandboxArg {
    /// Every layer, or the run is refused (cgroups: where writable).
    Strict,
    /// Every layer this host allows; missing ones are named in the run log.
    BestEffort,
    /// No isolation, only the resource limits (rlimits, cgroup). For
    /// trusted jobs and for measuring what isolation costs.
    Off,
}

impl From<SandboxArg> for SandboxMode {
    fn from(a: SandboxArg) -> SandboxMode {
        match a {
            SandboxArg::Strict => SandboxMode::Strict,
            SandboxArg::BestEffort => SandboxMode::BestEffort,
            SandboxArg::Off => SandboxMode::Off,
        }
    }
}

/// `--type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JobTypeArg {
    /// Runs on demand (or on a schedule), one run at a time, with history.
    Triggered,
    /// Kept alive and restarted by the host.
    Continuous,
}

impl From<JobTypeArg> for JobType {
    fn from(a: JobTypeArg) -> JobType {
        match a {
            JobTypeArg::Triggered => JobType::Triggered,
            JobTypeArg::Continuous => JobType::Continuous,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn the_command_line_spells_each_choice_as_before() {
        let spelled = |pv: Option<clap::builder::PossibleValue>| pv.unwrap().get_name().to_string();
        let ex: Vec<_> = ExecutorArg::value_variants()
            .iter()
            .map(|v| spelled(v.to_possible_value()))
            .collect();
        assert_eq!(ex, ["auto", "wasm", "native"]);
        let sb: Vec<_> = SandboxArg::value_variants()
            .iter()
            .map(|v| spelled(v.to_possible_value()))
            .collect();
        assert_eq!(sb, ["strict", "best-effort", "off"]);
        let jt: Vec<_> = JobTypeArg::value_variants()
            .iter()
            .map(|v| spelled(v.to_possible_value()))
            .collect();
        assert_eq!(jt, ["triggered", "continuous"]);
        assert_eq!(
            ExecutorChoice::from(ExecutorArg::Wasm),
            ExecutorChoice::Wasm
        );
        assert_eq!(
            SandboxMode::from(SandboxArg::BestEffort),
            SandboxMode::BestEffort
        );
        assert_eq!(JobType::from(JobTypeArg::Continuous), JobType::Continuous);
    }
}
