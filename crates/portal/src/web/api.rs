//! The JSON API (`Authorization: Bearer`): submissions, completeness, runs.

use super::*;

pub(super) async fn api_guarded(
    app: &Shared,
    headers: &HeaderMap,
    path: &str,
    f: impl FnOnce(Who) -> Result<serde_json::Value, HttpRefusal> + Send + 'static,
) -> Response {
    api_guarded_as(app, headers, &Method::GET, path, f).await
}

/// [`api_guarded`] for a request of another method (logged as it was made).
pub(super) async fn api_guarded_as(
    app: &Shared,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    f: impl FnOnce(Who) -> Result<serde_json::Value, HttpRefusal> + Send + 'static,
) -> Response {
    let who = match api_caller(app, headers) {
        Ok(w) => w,
        Err(r) => {
            app.log(app.audit(None, method, path, r.status, r.code), "refused");
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
                app.audit(Some(&who), method, path, StatusCode::OK, "ok"),
                "list",
            );
            axum::Json(v).into_response()
        }
        Err(r) => {
            app.log(
                app.audit(Some(&who), method, path, r.status, r.code),
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

/// The submissions held for closed periods (`.backbone/held/`), oldest first.
pub(super) fn held_list(app: &App) -> Vec<serde_json::Value> {
    let dir = app.dirs.layout.private().join("held");
    let mut out: Vec<serde_json::Value> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|t| serde_json::from_str(&t).ok())
        .collect();
    out.sort_by(|a, b| {
        (a["received"].as_str(), a["id"].as_str()).cmp(&(b["received"].as_str(), b["id"].as_str()))
    });
    out
}

pub(super) async fn api_held(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let app2 = app.clone();
    api_guarded(&app, &headers, "/api/held", move |who| {
        admin_only(&who, Lang::En)?;
        Ok(serde_json::Value::from(held_list(&app2)))
    })
    .await
}

pub(super) async fn api_approve(
    State(app): State<Shared>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let app2 = app.clone();
    let path = format!("/api/held/{id}/approve");
    api_guarded_as(&app, &headers, &Method::POST, &path, move |who| {
        admin_only(&who, Lang::En)?;
        let Some(approve) = &app2.on_approve else {
            return Err(HttpRefusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_approver",
                "this portal cannot apply held files; run `backbone approve` on the server".into(),
            ));
        };
        approve(&id)
            .map(|said| serde_json::json!({"approved": id, "said": said}))
            .map_err(|e| HttpRefusal::new(StatusCode::CONFLICT, "not_approved", e))
    })
    .await
}
