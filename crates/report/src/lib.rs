//! Charts and documents: the committee report (HTML with inline SVG charts, a Markdown
//! summary, PNG charts for slides, an Excel workbook, a PDF when a Chromium is installed),
//! the partners' receipts, and each partner's data-quality page.
//!
//! The report reads the metrics crate's results tables from disk (`indicators.csv`,
//! `completeness.csv`, `quality.csv`: the contract other tools rely on too) and the
//! declarations (initiative, indicators), so this crate builds without polars or deltalake.
//! Documents come from minijinja templates (`templates/`, escaped by default); charts from
//! plotters, SVG for the HTML and PNG, with an embedded DejaVu Sans, for slides.

mod bidi;
mod chart;
mod error;
pub mod i18n;
mod model;
mod pdf;
mod period;
mod receipt;
mod render;
mod xlsx;

pub use bidi::visual;
pub use chart::{Bar, BarChart, Chart, TrendChart, png, svg};
pub use error::ReportError;
pub use i18n::Lang;
pub use model::Inputs;
pub use pdf::{find_chromium, print_pdf};
pub use receipt::{Receipt, ReceiptInfo, receipt, unreadable_receipt};
pub use render::{Rendered, Report, render};
pub use xlsx::write_workbook;

pub use backbone_workspace::tables::{ExpectedRow, QualityRow, ResultsTables, ValueRow};
