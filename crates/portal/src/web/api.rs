//! The JSON API (`Authorization: Bearer`): submissions, completeness, runs.

use super::*;

pub(super) async fn api_guarded(
    app: &Shared,
    headers: &HeaderMap,
    path: &str,
    f: impl FnOnce(Who) -> Result<serde_json::Value, HttpRefusal> + Send + 'static,
) -> Response {
    let who = match api_caller(app, headers) {
        Ok(w) => w,
        Err(r) => {
            app.log(
                app.audit(None, &Method::GET, path, r.status, r.code),
                "refused",
            );
            return json_refusal(&r);
        }
    };
    let who2 = who.clone();
    let lang = lang_of(app, Some(&who), None);
    let result = tokio::task::spawn_blocking(move || f(who2))
        .await
        .unwrap_or_else(|e| Err(internal(lang)(e)));
    match result {
        Ok(v) => {
            app.log(
                app.audit(Some(&who), &Method::GET, path, StatusCode::OK, "ok"),
                "list",
            );
            axum::Json(v).into_response()
        }
        Err(r) => {
            app.log(
                app.audit(Some(&who), &Method::GET, path, r.status, r.code),
                "refused",
            );
            json_refusal(&r)
        }
    }
}

pub(super) fn partner_listing(app: &App, partner: &str) -> serde_json::Value {
    let ledger = upload::submissions_of(&app.dirs, &app.initiative, partner);
    let uploads: Vec<serde_json::Value> = upload::uploads_of(&app.dirs, partner)
        .into_iter()
        .map(|u| {
            let (status, submission) = upload::now_status(&app.dirs, &u, &ledger);
            let mut v = serde_json::to_value(&u).unwrap_or_default();
            v["status_now"] = status.into();
            v["submission"] = submission.into();
            v
        })
        .collect();
    let submissions: Vec<serde_json::Value> = ledger
        .into_iter()
        .map(|(s, current)| {
            let mut v = serde_json::to_value(&s).unwrap_or_default();
            v["current"] = current.into();
            v
        })
        .collect();
    serde_json::json!({"partner": partner, "uploads": uploads, "submissions": submissions})
}

pub(super) async fn api_list(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<Params>,
) -> Response {
    let app2 = app.clone();
    api_guarded(&app, &headers, "/api/submissions", move |who| {
        match (&who, q.partner.as_deref()) {
            (Who::Admin, None) => Ok(serde_json::json!({
                "partners": app2
                    .initiative
                    .partners
                    .iter()
                    .map(|p| partner_listing(&app2, &p.id))
                    .collect::<Vec<_>>()
            })),
            _ => {
                let partner = subject(&app2, &who, q.partner.as_deref(), Lang::En)?;
                Ok(partner_listing(&app2, &partner))
            }
        }
    })
    .await
}

pub(super) async fn api_one(
    State(app): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<Params>,
) -> Response {
    let app2 = app.clone();
    let path = format!("/api/submissions/{}", upload::display_name(&id));
    api_guarded(&app, &headers, &path, move |who| {
        let partner = subject(&app2, &who, q.partner.as_deref(), Lang::En)?;
        if let Some((doc, _)) = upload::upload_of(&app2.dirs, &partner, &id) {
            return Ok(doc);
        }
        let (s, current) = upload::submissions_of(&app2.dirs, &app2.initiative, &partner)
            .into_iter()
            .find(|(s, _)| s.id == id)
            .ok_or_else(|| not_found_refusal(Lang::En))?;
        let receipt = receipt_path(&app2, &partner, &s.file_name)
            .map(|p| p.with_extension("json"))
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        Ok(serde_json::json!({"submission": s, "current": current, "receipt": receipt}))
    })
    .await
}

pub(super) async fn api_completeness(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let app2 = app.clone();
    api_guarded(&app, &headers, "/api/completeness", move |who| {
        admin_only(&who, Lang::En)?;
        Ok(serde_json::to_value(completeness_rows(&app2)).unwrap_or_default())
    })
    .await
}

pub(super) async fn api_runs(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let app2 = app.clone();
    api_guarded(&app, &headers, "/api/runs", move |who| {
        admin_only(&who, Lang::En)?;
        Ok(serde_json::Value::from(last_runs(&app2, 50)))
    })
    .await
}
