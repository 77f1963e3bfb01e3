//! The `serve` command: options of the live page's server.

use std::net::IpAddr;

use clap::Args;

use super::positive_usize;
use crate::serve::{serve, Options};
use crate::Error;

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// The port (0: any free one, printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The address to listen on; anything but loopback lets other machines start runs.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// The most runs (and sweeps) going at once; one more is answered "busy".
    #[arg(long, default_value_t = 4, value_parser = positive_usize)]
    pub max_runs: usize,
    /// Use the adapter whose name contains NAME (like WGPU_ADAPTER_NAME).
    #[arg(long, value_name = "NAME", conflicts_with = "cpu_only")]
    pub adapter: Option<String>,
    /// Open no GPU: every run trains on the CPU.
    #[arg(long)]
    pub cpu_only: bool,
}

pub fn serve_command(args: &ServeArgs) -> Result<(), Error> {
    serve(&Options {
        host: args.host,
        port: args.port,
        max_runs: args.max_runs,
        adapter: args.adapter.clone(),
        cpu_only: args.cpu_only,
    })
}
