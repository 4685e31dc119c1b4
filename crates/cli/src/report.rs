//! `backbone report`: the committee report rendered from `results/` (the pipeline crate's
//! [`backbone_pipeline::publish`]), and optionally printed to PDF.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use backbone_pipeline::publish::{load_tables, render};
use backbone_report::Lang;
use backbone_workspace::{Declarations, Layout};

/// Options of `backbone report`.
pub(crate) struct Args {
    pub(crate) workspace: PathBuf,
    pub(crate) lang: Option<String>,
    pub(crate) out: Option<PathBuf>,
    pub(crate) pdf: bool,
}

/// `backbone report`.
pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let layout = Layout::new(&args.workspace);
    let decl = Declarations::load(&layout)?;
    let lang = Lang::parse(args.lang.as_deref().unwrap_or("he"));
    let out = args.out.clone().unwrap_or_else(|| layout.latest_report());
    let html = render(&layout, &decl, &load_tables(&layout)?, lang, &out)?;
    println!("report: {}", html.display());
    if args.pdf {
        let Some(chromium) = backbone_report::find_chromium() else {
            anyhow::bail!(
                "--pdf needs a Chromium (install the `chromium` package, or set BACKBONE_CHROMIUM)"
            );
        };
        let pdf = out.join("report.pdf");
        backbone_report::print_pdf(&chromium, &html, &pdf)?;
        println!("PDF: {}", pdf.display());
    }
    Ok(ExitCode::SUCCESS)
}
