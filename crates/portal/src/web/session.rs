//! Signing in and out, and the home page (the sign-in form, or the partner's uploads and
//! submissions).

use super::*;

pub(super) async fn home(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<Params>,
) -> Response {
    let Some((_, s)) = session(&app, &headers) else {
        let lang = lang_of(&app, None, q.lang.as_deref());
        return app.page("login.html", lang, None, None, context! { error => () });
    };
    let lang = lang_of(&app, Some(&s.who), q.lang.as_deref());
    let app2 = app.clone();
    let who = s.who.clone();
    let listing = tokio::task::spawn_blocking(move || home_context(&app2, &who, lang)).await;
    match listing {
        Ok(extra) => {
            app.log(
                app.audit(Some(&s.who), &Method::GET, "/", StatusCode::OK, "ok"),
                "list",
            );
            app.page("home.html", lang, Some(&s.who), Some(&s.csrf), extra)
        }
        Err(e) => {
            tracing::error!("listing uploads: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be drawn",
            )
                .into_response()
        }
    }
}

/// The sign-in page with a refusal on it.
pub(super) fn login_page(app: &App, lang: Lang, status: StatusCode, message: String) -> Response {
    let mut res = app.page(
        "login.html",
        lang,
        None,
        None,
        context! { error => message },
    );
    *res.status_mut() = status;
    res
}

pub(super) fn verdict_words(lang: Lang, verdict: &str) -> String {
    t(lang, &format!("v_{verdict}"))
}

/// The upload form and the lists of the home page.
pub(super) fn home_context(app: &App, who: &Who, lang: Lang) -> Value {
    let partners: Vec<String> = match who {
        Who::Partner(p) => vec![p.clone()],
        Who::Admin => app
            .initiative
            .partners
            .iter()
            .map(|p| p.id.clone())
            .collect(),
    };
    let mut uploads = Vec::new();
    let mut submissions = Vec::new();
    for p in &partners {
        let ledger = upload::submissions_of(&app.dirs, &app.initiative, p);
        for u in upload::uploads_of(&app.dirs, p) {
            let (status, submission) = upload::now_status(&app.dirs, &u, &ledger);
            uploads.push(context! {
                status_words => t(lang, &format!("st_{status}")),
                status => status,
                submission => submission,
                verdict_words => verdict_words(lang, &u.verdict),
                ..Value::from_serialize(&u)
            });
        }
        if matches!(who, Who::Partner(_)) {
            for (s, current) in ledger {
                let has_receipt = receipt_path(app, &s.partner, &s.file_name).is_some();
                submissions.push(context! {
                    current => current,
                    has_receipt => has_receipt,
                    verdict_words => verdict_words(lang, &s.verdict),
                    ..Value::from_serialize(&s)
                });
            }
        }
    }
    uploads.sort_by_key(|u| {
        std::cmp::Reverse(
            u.get_attr("received")
                .map(|v| v.to_string())
                .unwrap_or_default(),
        )
    });
    uploads.truncate(200);
    let owed: Vec<(String, &'static str)> = match who {
        Who::Partner(p) => app
            .initiative
            .schemas_of(p)
            .into_iter()
            .map(|(s, g)| (s.to_owned(), g.example()))
            .collect(),
        Who::Admin => {
            let mut all: Vec<(String, &'static str)> = Vec::new();
            for p in &app.initiative.partners {
                for (s, g) in app.initiative.schemas_of(&p.id) {
                    if !all.iter().any(|(x, _)| x == s) {
                        all.push((s.to_owned(), g.example()));
                    }
                }
            }
            all
        }
    };
    let schemas: Vec<Value> = owed.iter().map(|(s, _)| context! { name => s }).collect();
    let partner_list: Vec<Value> = app
        .initiative
        .partners
        .iter()
        .map(|p| context! { id => p.id.clone(), name => p.name.get(lang.code()).to_owned() })
        .collect();
    let portal = &app.initiative.portal;
    context! {
        admin => matches!(who, Who::Admin),
        uploads => uploads,
        submissions => submissions,
        schemas => schemas,
        partners => partner_list,
        period_example => owed.first().map_or("2024-03", |(_, e)| e),
        upload_help => t(lang, "upload_help").replace("{mb}", &(app.max_bytes >> 20).to_string()),
        share_quality => portal.share_quality || matches!(who, Who::Admin),
        share_report => portal.share_report || matches!(who, Who::Admin),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    pub(super) token: String,
    pub(super) lang: Option<String>,
}

pub(super) async fn login(
    State(app): State<Shared>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let lang = lang_of(&app, None, form.lang.as_deref());
    if !same_origin(&headers) {
        let r = HttpRefusal::word(StatusCode::FORBIDDEN, "cross_site", lang, "err_csrf");
        app.log(
            app.audit(None, &Method::POST, "/login", r.status, r.code),
            "refused",
        );
        return app.refusal_page(&r, lang, None, None);
    }
    let Some(who) = app.tokens.verify(&form.token) else {
        app.log(
            app.audit(
                None,
                &Method::POST,
                "/login",
                StatusCode::UNAUTHORIZED,
                "bad_token",
            ),
            "refused",
        );
        return login_page(
            &app,
            lang,
            StatusCode::UNAUTHORIZED,
            t(lang, "err_bad_token"),
        );
    };
    let digest = Tokens::digest(&form.token).unwrap_or_default();
    let (id, _) = match app.sessions.create(who.clone(), digest) {
        Ok(x) => x,
        Err(e) => {
            tracing::error!("{e}");
            return (StatusCode::INTERNAL_SERVER_ERROR, "no session").into_response();
        }
    };
    app.log(
        app.audit(
            Some(&who),
            &Method::POST,
            "/login",
            StatusCode::SEE_OTHER,
            "ok",
        ),
        "sign_in",
    );
    let secure = if app.secure_cookies { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        crate::guard::SESSION_TTL.as_secs()
    );
    let mut res = Redirect::to(&format!("/?lang={}", lang.code())).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

#[derive(Debug, Deserialize)]
pub(super) struct CsrfForm {
    pub(super) csrf: String,
}

pub(super) async fn logout(
    State(app): State<Shared>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Response {
    let Some((id, s)) = session(&app, &headers) else {
        return Redirect::to("/").into_response();
    };
    if !s.csrf_ok(&form.csrf) || !same_origin(&headers) {
        let lang = lang_of(&app, Some(&s.who), None);
        let r = HttpRefusal::word(StatusCode::FORBIDDEN, "csrf", lang, "err_csrf");
        app.log(
            app.audit(Some(&s.who), &Method::POST, "/logout", r.status, r.code),
            "refused",
        );
        return app.refusal_page(&r, lang, Some(&s.who), Some(&s.csrf));
    }
    app.sessions.remove(&id);
    app.log(
        app.audit(
            Some(&s.who),
            &Method::POST,
            "/logout",
            StatusCode::SEE_OTHER,
            "ok",
        ),
        "sign_out",
    );
    let mut res = Redirect::to("/").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("bb_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    res
}

/// A form post must come from our own pages: when the browser says where from (`Origin`),
/// it must be this host (`null`, from a sandboxed frame or a data: page, is not).
pub(super) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host)
}
