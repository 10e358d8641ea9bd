//! `wasmjobs tenant add|list|remove|rotate`.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;

use crate::cluster::Cluster;
use crate::config::HostConfig;
use crate::tenant::{Tenant, Tenants};

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

pub(super) fn run(
    host: &HostConfig,
    cmd: TenantCommand,
    database: Option<&str>,
) -> Result<ExitCode> {
    if let Some(url) = database {
        return in_cluster(host, url, cmd);
    }
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
            crate::store::trash::wait_until_empty();
            println!("removed tenant '{name}' with its jobs, data and history");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The same commands on a cluster's tenants, in its database (every host
/// picks a change up within a second or two).
fn in_cluster(host: &HostConfig, url: &str, cmd: TenantCommand) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let cluster = Cluster::connect(url, &host.instance).await?;
        match cmd {
            TenantCommand::Add { name } => {
                let (record, secret) = Tenant::new(&name)?;
                if cluster.add_tenant(&record).await?.is_none() {
                    bail!("tenant '{name}' already exists (use `tenant rotate` for a new secret)");
                }
                eprintln!("added tenant '{name}' to the cluster; its secret (shown only now):");
                println!("{secret}");
            }
            TenantCommand::List => {
                for t in cluster.tenants().await? {
                    println!("{:<24} created {}", t.name, t.created);
                }
            }
            TenantCommand::Rotate { name } => {
                let Some(t) = cluster.tenant(&name).await? else {
                    bail!("no tenant named '{name}'");
                };
                let (record, secret) = t.rotated()?;
                if !cluster.put_tenant(&record).await? {
                    bail!("no tenant named '{name}'");
                }
                eprintln!("new secret for tenant '{name}' (the old one no longer works):");
                println!("{secret}");
            }
            TenantCommand::Remove { name } => {
                if !cluster.remove_tenant(&name).await? {
                    bail!("no tenant named '{name}'");
                }
                println!("removed tenant '{name}' with its jobs and history from the cluster");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
