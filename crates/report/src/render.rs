//! The committee report on disk: `index.html` (self-contained: styles and SVG charts inline,
//! no request to any network), `summary.md` for email, `charts/*.png` for slides,
//! `partners/<id>.html` (each partner's data-quality page) and `results.xlsx`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use minijinja::{Environment, Value, context};

use crate::model::{Content, Inputs, partner_pages};
use crate::{Lang, ReportError, chart};

/// What to render.
pub struct Report<'a> {
    /// The declarations and the results tables.
    pub inputs: Inputs<'a>,
    /// The language.
    pub lang: Lang,
    /// When it is generated (shown in the footer; fixed in tests).
    pub generated: String,
}

/// What was written.
#[derive(Debug, Default)]
pub struct Rendered {
    /// The HTML report.
    pub html: PathBuf,
    /// The Markdown summary.
    pub markdown: PathBuf,
    /// PNG charts.
    pub pngs: Vec<PathBuf>,
    /// Partners' data-quality pages.
    pub partner_pages: Vec<PathBuf>,
    /// The workbook.
    pub workbook: PathBuf,
}

pub(crate) fn environment() -> Result<Environment<'static>, ReportError> {
    let mut env = Environment::new();
    for (name, source) in [
        ("report.html", include_str!("../templates/report.html")),
        ("summary.md", include_str!("../templates/summary.md")),
        ("partner.html", include_str!("../templates/partner.html")),
        ("receipt.html", include_str!("../templates/receipt.html")),
        ("receipt.txt", include_str!("../templates/receipt.txt")),
        ("style.css", include_str!("../templates/style.css")),
    ] {
        env.add_template(name, source)
            .map_err(|e| ReportError::Template {
                template: name.to_owned(),
                message: format!("{e:#}"),
            })?;
    }
    // Markdown table cells: a pipe or an angle bracket from the data must not change the
    // table or become markup.
    env.add_filter("md", |s: String| {
        s.replace('\\', "\\\\")
            .replace('|', "\\|")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('\n', " ")
    });
    Ok(env)
}

pub(crate) fn render_template(
    env: &Environment<'_>,
    name: &str,
    ctx: Value,
) -> Result<String, ReportError> {
    env.get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| ReportError::Template {
            template: name.to_owned(),
            message: format!("{e:#}"),
        })
}

fn write(path: &Path, text: &str) -> Result<(), ReportError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ReportError::io(parent, &e))?;
    }
    std::fs::write(path, text).map_err(|e| ReportError::io(path, &e))
}

/// Renders the report into `out`.
pub fn render(report: &Report<'_>, out: &Path) -> Result<Rendered, ReportError> {
    let lang = report.lang;
    let content = Content::build(&report.inputs, lang);
    let pages = partner_pages(&report.inputs, lang);
    let env = environment()?;
    let mut svgs = BTreeMap::new();
    let mut pngs = Vec::new();
    let charts = out.join("charts");
    std::fs::create_dir_all(&charts).map_err(|e| ReportError::io(&charts, &e))?;
    for f in content.figures.iter().chain(
        pages
            .iter()
            .flat_map(|p| p.sections.iter().map(|s| &s.figure)),
    ) {
        svgs.insert(f.name.clone(), chart::svg(&f.chart, lang)?);
        // Sparklines are for the page, not for slides.
        if !f.name.ends_with("-spark") {
            let path = charts.join(format!("{}.png", f.name));
            chart::png(&f.chart, lang, &path)?;
            pngs.push(path);
        }
    }
    let base = context! {
        lang => lang.code(),
        dir => lang.dir(),
        t => Value::from_serialize(lang.words()),
        generated => report.generated.clone(),
    };
    let css = render_template(&env, "style.css", base.clone())?;
    let ctx = context! {
        ..base.clone(),
        ..context! {
            c => Value::from_serialize(&content),
            svg => Value::from_serialize(&svgs),
            css => css.clone(),
        }
    };
    let html = out.join("index.html");
    write(&html, &render_template(&env, "report.html", ctx.clone())?)?;
    let markdown = out.join("summary.md");
    write(&markdown, &render_template(&env, "summary.md", ctx)?)?;
    let mut partner_paths = Vec::new();
    for p in &pages {
        let ctx = context! {
            ..base.clone(),
            ..context! {
                p => Value::from_serialize(p),
                svg => Value::from_serialize(&svgs),
                css => css.clone(),
                initiative => content.title.clone(),
            }
        };
        let path = out.join("partners").join(format!("{}.html", p.partner));
        write(&path, &render_template(&env, "partner.html", ctx)?)?;
        partner_paths.push(path);
    }
    let workbook = out.join("results.xlsx");
    crate::write_workbook(
        report.inputs.tables,
        report.inputs.initiative,
        lang,
        &report.generated,
        &workbook,
    )?;
    Ok(Rendered {
        html,
        markdown,
        pngs,
        partner_pages: partner_paths,
        workbook,
    })
}
