//! `wasmjobs tenant add|list|remove|rotate`.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;

use crate::config::HostConfig;
use crate::tenant::Tenants;

/// Tenant management.
#[derive(Debug, Subcommand)]
pub(super) enum TenantCommand {
    /// Add a tenant and print its secret (shown this once).
    Add {
        /// Tenant name (letters, digits, `-`, `_`).
        name: String,
    },
    /// List the tenants (never their secrets).
    List,
    /// Give a tenant a new secret (printed once); the old one stops working.
    Rotate {
        /// Tenant name.
        name: String,
    },
    /// Remove a tenant with all its jobs, data and history.
    Remove {
        /// Tenant name.
        name: String,
    },
}

pub(super) fn run(host: &HostConfig, cmd: TenantCommand) -> Result<ExitCode> {
    let tenants = Tenants::new(host.layout.root());
    match cmd {
        TenantCommand::Add { name } => {
            let secret = tenants.add(&name)?;
            eprintln!("added tenant '{name}'; its secret (shown only now):");
            println!("{secret}");
        }
        TenantCommand::List => {
            for t in tenants.list() {
                println!("{:<24} created {}", t.name, t.created);
            }
        }
        TenantCommand::Rotate { name } => {
            let secret = tenants.rotate(&name)?;
            eprintln!("new secret for tenant '{name}' (the old one no longer works):");
            println!("{secret}");
        }
        TenantCommand::Remove { name } => {
            if !tenants.remove(&name)? {
                bail!("no tenant named '{name}'");
            }
            println!("removed tenant '{name}' with its jobs, data and history");
        }
    }
    Ok(ExitCode::SUCCESS)
}
