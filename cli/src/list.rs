//! `statestore list`.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use statestore::{Registration, Registry, Result};

use super::Format;

#[derive(Args)]
pub struct ListArgs {
    /// Also print each type's properties with their defaults.
    #[arg(long)]
    properties: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

fn versions(r: &Registration) -> String {
    r.versions
        .iter()
        .map(|v| {
            if *v == r.default_version() {
                format!("{v} (default)")
            } else {
                v.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn run(registry: &Registry, args: &ListArgs) -> Result<ExitCode> {
    if args.format == Format::Json {
        let types: Vec<_> = registry
            .iter()
            .map(|r| {
                json!({
                    "type": r.name,
                    "versions": r.versions,
                    "defaultVersion": r.default_version(),
                    "aliases": r.aliases,
                    "capabilities": r.features.iter().map(|f| f.name()).collect::<Vec<_>>(),
                    "summary": r.summary,
                    "properties": r.properties.iter().map(|p| json!({
                        "name": p.name, "aliases": p.aliases, "required": p.required,
                        "default": p.default, "secret": p.secret, "doc": p.doc,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&types).unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<[String; 4]> = registry
        .iter()
        .map(|r| {
            let aliases = if r.aliases.is_empty() {
                "-".to_owned()
            } else {
                r.aliases.join(", ")
            };
            [
                r.name.to_owned(),
                versions(r),
                aliases,
                r.features.to_string(),
            ]
        })
        .collect();
    let header = ["TYPE", "VERSIONS", "ALIASES", "CAPABILITIES"].map(str::to_owned);
    let width = |i: usize| {
        rows.iter()
            .chain([&header])
            .map(|r| r[i].len())
            .max()
            .unwrap_or(0)
    };
    let (w0, w1, w2) = (width(0), width(1), width(2));
    for row in std::iter::once(&header).chain(&rows) {
        println!("{:w0$}  {:w1$}  {:w2$}  {}", row[0], row[1], row[2], row[3]);
    }
    if args.properties {
        for r in registry.iter() {
            println!("\n{}: {}", r.name, r.summary);
            let wn = r.properties.iter().map(|p| p.name.len()).max().unwrap_or(0);
            for p in r.properties {
                let default = match (p.required, p.default) {
                    (true, _) => "required".to_owned(),
                    (false, Some(d)) => format!("default {d}"),
                    (false, None) => "optional".to_owned(),
                };
                println!("  {:wn$}  {:18}  {}", p.name, default, p.doc);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
