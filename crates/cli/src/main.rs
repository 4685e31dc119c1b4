//! `backbone`: the command a data manager runs.

mod demo;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// A shared-measurement data pipeline for collective-impact initiatives.
#[derive(Parser, Debug)]
#[command(name = "backbone", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Format {
    /// For a person: the verdict, then the problems grouped by column.
    Text,
    /// For tools: shaped like frictionless-py's report.
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check one partner file against a schema. Exit 0 valid, 1 invalid, 2 unreadable.
    Validate {
        /// The partner's file (CSV, TSV, .xlsx, .xls, .ods).
        file: PathBuf,
        /// Schema: a path to a Table Schema JSON file, or a name in the workspace's
        /// data-schemas/ folder.
        #[arg(long, short)]
        schema: String,
        /// Partner profile (TOML): encoding, delimiter, sheet, header row, aliases, value maps.
        #[arg(long, short)]
        profile: Option<PathBuf>,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Problems listed per error type (all are counted).
        #[arg(long, default_value_t = 1000)]
        limit_errors: usize,
        /// The initiative's workspace (where data-schemas/ is).
        #[arg(long, short, default_value = ".")]
        workspace: PathBuf,
    },
    /// Validate the bundled example initiative's partner files and write a receipt for each.
    Demo {
        /// Where to put the example workspace.
        #[arg(default_value = "backbone-demo")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate {
            file,
            schema,
            profile,
            format,
            limit_errors,
            workspace,
        } => validate::run(&validate::Args {
            file,
            schema,
            profile,
            json: format == Format::Json,
            limit_errors,
            workspace,
        }),
        Command::Demo { dir } => demo::run(&dir),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("backbone: {e:#}");
            ExitCode::from(2)
        }
    }
}
