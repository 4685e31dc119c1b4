//! Reading back: an upload's and a submission's receipts, the partner's data-quality page,
//! the committee report where it is shared, and the data manager's admin page.

use super::*;

/// The caller of a page: a signed-in browser, or a script with a bearer token.
pub(super) fn page_caller(app: &App, headers: &HeaderMap) -> Option<(Who, Option<String>)> {
    if let Some((_, s)) = session(app, headers) {
        return Some((s.who, Some(s.csrf)));
    }
    bearer(headers)
        .and_then(|token| app.tokens.verify(token))
        .map(|w| (w, None))
}

/// A page that needs a caller; a refusal page (and an audit line) otherwise.
pub(super) async fn with_caller(
    app: &Shared,
    headers: &HeaderMap,
    path: &str,
    q: &Params,
    f: impl FnOnce(&Who, Lang) -> Result<Response, HttpRefusal>,
) -> Response {
    let Some((who, csrf)) = page_caller(app, headers) else {
        let lang = lang_of(app, None, q.lang.as_deref());
        let r = HttpRefusal::word(
            StatusCode::UNAUTHORIZED,
            "signed_out",
            lang,
            "err_signed_out",
        );
        app.log(
            app.audit(None, &Method::GET, path, r.status, r.code),
            "refused",
        );
        return login_page(app, lang, r.status, r.message);
    };
    let lang = lang_of(app, Some(&who), q.lang.as_deref());
    match f(&who, lang) {
        Ok(res) => {
            app.log(
                app.audit(Some(&who), &Method::GET, path, res.status(), "ok"),
                "view",
            );
            res
        }
        Err(r) => {
            app.log(
                app.audit(Some(&who), &Method::GET, path, r.status, r.code),
                "refused",
            );
            app.refusal_page(&r, lang, Some(&who), csrf.as_deref())
        }
    }
}

pub(super) fn not_found_refusal(lang: Lang) -> HttpRefusal {
    HttpRefusal::word(StatusCode::NOT_FOUND, "not_found", lang, "err_not_found")
}

pub(super) async fn upload_page(
    State(app): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<Params>,
) -> Response {
    let path = format!("/uploads/{}", upload::display_name(&id));
    let app2 = app.clone();
    with_caller(&app, &headers, &path, &q, |who, lang| {
        let partner = subject(&app2, who, q.partner.as_deref(), lang)?;
        let (_, html) =
            upload::upload_of(&app2.dirs, &partner, &id).ok_or_else(|| not_found_refusal(lang))?;
        Ok(html_response(StatusCode::OK, html))
    })
    .await
}

/// The nightly run's receipt of a submission in the ledger: `outbox/<partner>/<file>.receipt.html`.
pub(super) fn receipt_path(
    app: &App,
    partner: &str,
    file_name: &str,
) -> Option<std::path::PathBuf> {
    if file_name.is_empty() || file_name.contains(['/', '\\']) || file_name.starts_with('.') {
        return None;
    }
    let p = app
        .dirs
        .layout
        .outbox_of(partner)
        .join(format!("{file_name}.receipt.html"));
    p.is_file().then_some(p)
}

pub(super) async fn receipt_page(
    State(app): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<Params>,
) -> Response {
    let path = format!("/receipts/{}", upload::display_name(&id));
    let app2 = app.clone();
    let who = page_caller(&app, &headers).map(|(w, _)| w);
    // The ledger is read from the store (blocking).
    let found = match who
        .as_ref()
        .map(|w| subject(&app, w, q.partner.as_deref(), Lang::En))
    {
        Some(Ok(partner)) => {
            let id2 = id.clone();
            tokio::task::spawn_blocking(move || {
                upload::submissions_of(&app2.dirs, &app2.initiative, &partner)
                    .into_iter()
                    .find(|(s, _)| s.id == id2)
                    .and_then(|(s, _)| receipt_path(&app2, &s.partner, &s.file_name))
            })
            .await
            .ok()
            .flatten()
        }
        _ => None,
    };
    with_caller(&app, &headers, &path, &q, |who, lang| {
        subject(&app, who, q.partner.as_deref(), lang)?;
        let p = found.ok_or_else(|| not_found_refusal(lang))?;
        let html = std::fs::read_to_string(&p).map_err(|_| not_found_refusal(lang))?;
        Ok(html_response(StatusCode::OK, html))
    })
    .await
}

/// A page of `reports/latest` (its English copy under `en/`): the data manager's always, a
/// partner's only when the workspace shares it.
pub(super) fn latest_report_page(
    app: &App,
    who: &Who,
    shared: bool,
    lang: Lang,
    page: &str,
) -> Result<Response, HttpRefusal> {
    if matches!(who, Who::Partner(_)) && !shared {
        return Err(HttpRefusal::word(
            StatusCode::FORBIDDEN,
            "not_shared",
            lang,
            "err_not_shared",
        ));
    }
    let base = app.dirs.layout.latest_report();
    let base = if lang == Lang::En {
        base.join("en")
    } else {
        base
    };
    let html = std::fs::read_to_string(base.join(page)).map_err(|_| not_found_refusal(lang))?;
    Ok(html_response(StatusCode::OK, html))
}

pub(super) async fn quality_page(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<Params>,
) -> Response {
    with_caller(&app, &headers, "/quality", &q, |who, lang| {
        let partner = subject(&app, who, q.partner.as_deref(), lang)?;
        let shared = app.initiative.portal.share_quality;
        latest_report_page(&app, who, shared, lang, &format!("partners/{partner}.html"))
    })
    .await
}

pub(super) async fn report_page(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<Params>,
) -> Response {
    with_caller(&app, &headers, "/report", &q, |who, lang| {
        latest_report_page(
            &app,
            who,
            app.initiative.portal.share_report,
            lang,
            "index.html",
        )
    })
    .await
}

pub(super) fn admin_only(who: &Who, lang: Lang) -> Result<(), HttpRefusal> {
    match who {
        Who::Admin => Ok(()),
        Who::Partner(_) => Err(HttpRefusal::word(
            StatusCode::FORBIDDEN,
            "admin_only",
            lang,
            "err_forbidden",
        )),
    }
}

pub(super) async fn admin_page(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<Params>,
) -> Response {
    let csrf = session(&app, &headers).map(|(_, s)| s.csrf);
    let app2 = app.clone();
    with_caller(&app, &headers, "/admin", &q, |who, lang| {
        admin_only(who, lang)?;
        let grid = completeness_grid(&app2, lang);
        let runs = last_runs(&app2, 10);
        let holders = app2.tokens.holders().unwrap_or_default();
        let held = super::api::held_list(&app2);
        Ok(app2.page(
            "admin.html",
            lang,
            Some(who),
            csrf.as_deref(),
            context! {
                grid => grid,
                runs => runs,
                holders => Value::from_serialize(&holders),
                held => Value::from_serialize(&held),
            },
        ))
    })
    .await
}

/// The rows of `results/completeness.csv` (none before the first results).
pub(super) fn completeness_rows(app: &App) -> Vec<ExpectedRow> {
    let path = app.dirs.layout.results().join(files::COMPLETENESS_CSV);
    if !path.is_file() {
        return Vec::new();
    }
    ExpectedRow::read(&path).unwrap_or_else(|e| {
        tracing::warn!("{e}");
        Vec::new()
    })
}

/// The completeness grid: per schema, partner × period status.
pub(super) fn completeness_grid(app: &App, lang: Lang) -> Vec<Value> {
    let rows = completeness_rows(app);
    let mut by_schema: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>> =
        BTreeMap::new();
    let mut periods: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for r in rows {
        periods
            .entry(r.schema.clone())
            .or_default()
            .insert(r.period.clone());
        by_schema
            .entry(r.schema)
            .or_default()
            .entry(r.partner)
            .or_default()
            .insert(r.period, r.status);
    }
    by_schema
        .into_iter()
        .map(|(schema, partners)| {
            let mut ps: Vec<String> = periods
                .get(&schema)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default();
            sort_labels(&mut ps);
            let rows: Vec<Value> = partners
                .into_iter()
                .map(|(partner, cells)| {
                    let cells: Vec<Value> = ps
                        .iter()
                        .map(|p| {
                            let code = cells.get(p).cloned().unwrap_or_default();
                            let words = if code.is_empty() {
                                String::new()
                            } else {
                                t(lang, &format!("c_{code}"))
                            };
                            context! { code => code, words => words }
                        })
                        .collect();
                    context! { partner => partner, cells => cells }
                })
                .collect();
            context! { schema => schema, periods => ps, rows => rows }
        })
        .collect()
}

/// The last `n` runs' summaries (`runs/*.json`), newest first.
pub(super) fn last_runs(app: &App, n: usize) -> Vec<serde_json::Value> {
    RunSummary::all(&app.dirs.layout.runs())
        .iter()
        .rev()
        .take(n)
        .map(|r| {
            serde_json::json!({
                "started": r.started,
                "files": r.files.len(),
                "seconds": (r.seconds * 10.0).round() / 10.0,
                "store_changed": r.store_changed,
                "store_version": r.store_version,
            })
        })
        .collect()
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct ApproveForm {
    pub(super) csrf: String,
    pub(super) id: String,
    /// The page's language, so the answer is in it.
    #[serde(default)]
    pub(super) lang: Option<String>,
}

/// `POST /admin/approve`: the data manager's button beside a held file on `/admin` (a signed-in
/// session, its anti-forgery token and our own origin, like every form). Applies the file
/// through the same hook as `POST /api/held/{id}/approve` and answers with a page saying
/// what happened.
pub(super) async fn admin_approve(
    State(app): State<Shared>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<ApproveForm>,
) -> Response {
    const PATH: &str = "/admin/approve";
    let Some((_, s)) = session(&app, &headers) else {
        let lang = lang_of(&app, None, None);
        let r = HttpRefusal::word(
            StatusCode::UNAUTHORIZED,
            "signed_out",
            lang,
            "err_signed_out",
        );
        app.log(
            app.audit(None, &Method::POST, PATH, r.status, r.code),
            "refused",
        );
        return login_page(&app, lang, r.status, r.message);
    };
    let lang = lang_of(&app, Some(&s.who), form.lang.as_deref());
    let refuse = |r: HttpRefusal| {
        app.log(
            app.audit(Some(&s.who), &Method::POST, PATH, r.status, r.code),
            "refused",
        );
        app.refusal_page(&r, lang, Some(&s.who), Some(&s.csrf))
    };
    if !s.csrf_ok(&form.csrf) || !super::session::same_origin(&headers) {
        return refuse(HttpRefusal::word(
            StatusCode::FORBIDDEN,
            "csrf",
            lang,
            "err_csrf",
        ));
    }
    if let Err(r) = admin_only(&s.who, lang) {
        return refuse(r);
    }
    let Some(approve) = app.on_approve.clone() else {
        return refuse(HttpRefusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_approver",
            t(lang, "err_no_approver"),
        ));
    };
    let id = form.id.clone();
    let outcome = tokio::task::spawn_blocking(move || approve(&id)).await;
    let said = match outcome {
        Ok(Ok(said)) => said,
        Ok(Err(e)) => return refuse(HttpRefusal::new(StatusCode::CONFLICT, "not_approved", e)),
        Err(e) => {
            tracing::error!("approving {}: {e}", form.id);
            return refuse(HttpRefusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "not_approved",
                t(lang, "err_approve_failed"),
            ));
        }
    };
    let mut event = app.audit(Some(&s.who), &Method::POST, PATH, StatusCode::OK, "ok");
    event.upload = Some(form.id.clone());
    app.log(event, "approve");
    app.page(
        "message.html",
        lang,
        Some(&s.who),
        Some(&s.csrf),
        context! { message => format!("{} {}: {said}", t(lang, "approved"), form.id) },
    )
}
