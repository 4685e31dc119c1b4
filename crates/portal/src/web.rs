//! The routes. HTML pages (no JavaScript; sessions from a sign-in form, every form carrying
//! the session's anti-forgery token) and a JSON API with `Authorization: Bearer <token>`.
//! Each refusal is answered with a clear message and written to the audit log.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Multipart, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use backbone_report::Lang;
use minijinja::{Value, context};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::App;
use crate::audit::Event;
use crate::guard::Session;
use crate::tokens::{Who, hex, random_hex};
use crate::upload::{self, Checked, Handling, Incoming};
use crate::words::{all, t};

type Shared = Arc<App>;

/// What a refused request is told.
#[derive(Debug)]
pub(crate) struct Refusal {
    status: StatusCode,
    /// Audit outcome and API error code.
    code: &'static str,
    /// The sentence, in the reader's language.
    message: String,
    retry_after: Option<u64>,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: String) -> Self {
        Self {
            status,
            code,
            message,
            retry_after: None,
        }
    }
    fn word(status: StatusCode, code: &'static str, lang: Lang, key: &str) -> Self {
        Self::new(status, code, t(lang, key))
    }
}

/// The portal's router.
pub(crate) fn router(app: Shared) -> Router {
    let uploads = Router::new()
        .route("/upload", post(upload_form))
        .route("/api/submissions", post(api_upload).get(api_list))
        // Uploads count their own bytes against the workspace's limit (and drain what is
        // past it, so the client reads the answer instead of a reset connection).
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/uploads/{id}", get(upload_page))
        .route("/receipts/{id}", get(receipt_page))
        .route("/quality", get(quality_page))
        .route("/report", get(report_page))
        .route("/admin", get(admin_page))
        .route("/api/submissions/{id}", get(api_one))
        .route("/api/completeness", get(api_completeness))
        .route("/api/runs", get(api_runs))
        .merge(uploads)
        .fallback(not_found)
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(app)
}

/// Every answer: a content-security policy that allows nothing from outside and no script
/// at all, no framing, no sniffing, no referrer to other sites, no caching.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`: under `no-referrer` browsers send `Origin: null` with
    // our own form posts, and the origin check below could not tell them from a forged one.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

// ---------------------------------------------------------------- who is asking

const COOKIE: &str = "bb_session";

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == COOKIE).then(|| v.to_owned())
        })
}

fn session(app: &App, headers: &HeaderMap) -> Option<(String, Session)> {
    let id = cookie(headers)?;
    let s = app.sessions.get(&id)?;
    Some((id, s))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The API caller, from its bearer token.
fn api_caller(app: &App, headers: &HeaderMap) -> Result<Who, Refusal> {
    let who = bearer(headers).and_then(|token| app.tokens.verify(token));
    who.ok_or_else(|| {
        Refusal::new(
            StatusCode::UNAUTHORIZED,
            "bad_token",
            "a valid token is needed: `Authorization: Bearer <token>` (from `backbone partner token`)"
                .to_owned(),
        )
    })
}

/// The partner a request is about: a partner may ask only about itself; the data manager
/// names one (or, where `all` is allowed, none for every partner).
fn subject(app: &App, who: &Who, asked: Option<&str>, lang: Lang) -> Result<String, Refusal> {
    let asked = asked.filter(|p| !p.is_empty());
    match (who, asked) {
        (Who::Partner(me), None) => Ok(me.clone()),
        (Who::Partner(me), Some(p)) if p == me => Ok(me.clone()),
        (Who::Partner(_), Some(_)) => Err(Refusal::word(
            StatusCode::FORBIDDEN,
            "other_partner",
            lang,
            "err_forbidden",
        )),
        (Who::Admin, Some(p)) if app.initiative.partner(p).is_some() => Ok(p.to_owned()),
        (Who::Admin, asked) => {
            let ids = app
                .initiative
                .partners
                .iter()
                .map(|p| p.id.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            Err(match asked {
                // The data manager acts for a partner, and must say which: a request that does
                // not is malformed; one that names nobody we know asks for what is not there.
                None => Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "no_partner",
                    format!(
                        "say which partner: the form field `partner` when uploading, \
                         `?partner=<id>` otherwise (one of {ids})"
                    ),
                ),
                Some(p) => Refusal::new(
                    StatusCode::NOT_FOUND,
                    "no_such_partner",
                    format!("no partner `{p}` (the partners: {ids})"),
                ),
            })
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct Params {
    lang: Option<String>,
    partner: Option<String>,
}

fn lang_of(app: &App, who: Option<&Who>, asked: Option<&str>) -> Lang {
    if let Some(l) = asked.filter(|l| matches!(*l, "he" | "en")) {
        return Lang::parse(l);
    }
    who.and_then(Who::partner)
        .and_then(|p| app.initiative.partner(p))
        .map_or(Lang::He, |p| Lang::parse(&p.language))
}

// ---------------------------------------------------------------- answers

impl App {
    fn audit(
        &self,
        who: Option<&Who>,
        method: &Method,
        path: &str,
        status: StatusCode,
        outcome: &str,
    ) -> Event {
        Event {
            time: (self.clock)(),
            who: who.map_or_else(|| "anonymous".to_owned(), Who::label),
            action: String::new(),
            route: format!("{method} {path}"),
            status: status.as_u16(),
            outcome: outcome.to_owned(),
            ..Event::default()
        }
    }

    /// Logs a refusal on an event that was being filled in.
    fn log_refusal(&self, mut event: Event, r: &Refusal) {
        event.status = r.status.as_u16();
        event.outcome = r.code.into();
        self.log(event, "refused");
    }

    fn log(&self, mut event: Event, action: &str) {
        event.action = action.to_owned();
        self.audit.record(&event);
    }

    fn page(
        &self,
        template: &str,
        lang: Lang,
        who: Option<&Who>,
        csrf: Option<&str>,
        extra: Value,
    ) -> Response {
        let who_name = who.map(|w| match w {
            Who::Admin => t(lang, "admin"),
            Who::Partner(p) => self
                .initiative
                .partner(p)
                .map_or_else(|| p.clone(), |x| x.name.get(lang.code()).to_owned()),
        });
        let ctx = context! {
            lang => lang.code(),
            dir => lang.dir(),
            other_lang => if lang == Lang::He { "en" } else { "he" },
            t => Value::from_serialize(all(lang)),
            initiative => self.initiative.name.get(lang.code()),
            who_name => who_name,
            csrf => csrf,
            ..extra
        };
        match self
            .env
            .get_template(template)
            .and_then(|tpl| tpl.render(ctx))
        {
            Ok(html) => html_response(StatusCode::OK, html),
            Err(e) => {
                tracing::error!("page {template}: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the page could not be drawn",
                )
                    .into_response()
            }
        }
    }

    fn refusal_page(
        &self,
        r: &Refusal,
        lang: Lang,
        who: Option<&Who>,
        csrf: Option<&str>,
    ) -> Response {
        let mut res = self.page(
            "message.html",
            lang,
            who,
            csrf,
            context! { message => r.message.clone() },
        );
        *res.status_mut() = r.status;
        if let Some(s) = r.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        res
    }
}

fn html_response(status: StatusCode, html: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

fn json_refusal(r: &Refusal) -> Response {
    let mut res = (
        r.status,
        axum::Json(serde_json::json!({"error": r.code, "message": r.message})),
    )
        .into_response();
    if r.status == StatusCode::UNAUTHORIZED {
        res.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if let Some(s) = r.retry_after {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    res
}

async fn not_found(
    State(app): State<Shared>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let who = session(&app, &headers)
        .map(|(_, s)| s.who)
        .or_else(|| bearer(&headers).and_then(|token| app.tokens.verify(token)));
    app.log(
        app.audit(
            who.as_ref(),
            &method,
            uri.path(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        "refused",
    );
    let r = Refusal::word(
        StatusCode::NOT_FOUND,
        "not_found",
        Lang::En,
        "err_not_found",
    );
    if uri.path().starts_with("/api/") {
        json_refusal(&r)
    } else {
        app.refusal_page(&r, lang_of(&app, who.as_ref(), None), who.as_ref(), None)
    }
}

// ---------------------------------------------------------------- sign in and out

async fn home(State(app): State<Shared>, headers: HeaderMap, Query(q): Query<Params>) -> Response {
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

fn verdict_words(lang: Lang, verdict: &str) -> String {
    t(lang, &format!("v_{verdict}"))
}

/// The upload form and the lists of the home page.
fn home_context(app: &App, who: &Who, lang: Lang) -> Value {
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
struct LoginForm {
    token: String,
    lang: Option<String>,
}

async fn login(
    State(app): State<Shared>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let lang = lang_of(&app, None, form.lang.as_deref());
    if !same_origin(&headers) {
        let r = Refusal::word(StatusCode::FORBIDDEN, "cross_site", lang, "err_csrf");
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
        let mut res = app.page(
            "login.html",
            lang,
            None,
            None,
            context! { error => t(lang, "err_bad_token") },
        );
        *res.status_mut() = StatusCode::UNAUTHORIZED;
        return res;
    };
    let (id, _) = match app.sessions.create(who.clone()) {
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
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(app): State<Shared>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Response {
    let Some((id, s)) = session(&app, &headers) else {
        return Redirect::to("/").into_response();
    };
    if !s.csrf_ok(&form.csrf) || !same_origin(&headers) {
        let lang = lang_of(&app, Some(&s.who), None);
        let r = Refusal::word(StatusCode::FORBIDDEN, "csrf", lang, "err_csrf");
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
fn same_origin(headers: &HeaderMap) -> bool {
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

// ---------------------------------------------------------------- uploads

/// Bytes of a refused request's body read and thrown away so that the client gets to read
/// the answer (a server that closes with unread data makes the client's kernel reset the
/// connection, and the answer is lost).
const DRAIN_CAP: u64 = 64 << 20;

fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
}

/// Drains a refused upload's body (unless the client waits for a 100 Continue it will not
/// get).
async fn drain_refused(
    mp: Result<Multipart, MultipartRejection>,
    headers: &HeaderMap,
    idle: Duration,
) {
    if let Ok(mut mp) = mp
        && !expects_continue(headers)
    {
        drain_fields(&mut mp, DRAIN_CAP, idle).await;
    }
}

/// Reads and drops up to `budget` bytes of a refused upload, for at most `idle` in all: the
/// drain is a courtesy, and a client trickling bytes must not hold its connection with it.
async fn drain_fields(mp: &mut Multipart, mut budget: u64, idle: Duration) {
    let drain = async {
        while budget > 0 {
            let Ok(Some(mut field)) = next_field(mp, idle).await else {
                return;
            };
            while budget > 0 {
                match next_chunk(&mut field, idle).await {
                    Ok(Some(c)) => budget = budget.saturating_sub(c.len() as u64),
                    _ => break,
                }
            }
        }
    };
    let _ = tokio::time::timeout(idle, drain).await;
}

/// Why an upload's body stopped: malformed, nothing arrived for the idle time, or it came
/// slower than the service takes.
enum Cut {
    Bad(MultipartError),
    Stalled,
    TooSlow,
}

/// The next field of the form, unless the client sends nothing for `idle`.
async fn next_field(mp: &mut Multipart, idle: Duration) -> Result<Option<Field<'_>>, Cut> {
    match tokio::time::timeout(idle, mp.next_field()).await {
        Ok(r) => r.map_err(Cut::Bad),
        Err(_) => Err(Cut::Stalled),
    }
}

/// The next bytes of a field, unless the client sends nothing for `idle` (a stalled upload
/// would otherwise hold its connection and its partial file for ever).
async fn next_chunk(field: &mut Field<'_>, idle: Duration) -> Result<Option<Bytes>, Cut> {
    match tokio::time::timeout(idle, field.chunk()).await {
        Ok(r) => r.map_err(Cut::Bad),
        Err(_) => Err(Cut::Stalled),
    }
}

#[derive(Debug, Default)]
struct Fields {
    schema: Option<String>,
    period: Option<String>,
    partner: Option<String>,
    lang: Option<String>,
    csrf: Option<String>,
}

/// Reads the form: small fields into `Fields`, the file streamed to a temporary file with
/// its sha256, its size checked as it comes. With `session`, the anti-forgery field must come
/// before the file (our form puts it first), so a forged post is refused before its file is
/// read.
async fn read_form(
    app: &App,
    mp: &mut Multipart,
    session: Option<&Session>,
    lang: Lang,
) -> Result<(Fields, Option<Incoming>), Refusal> {
    let mut incoming: Option<Incoming> = None;
    let result = read_fields(app, mp, session, lang, &mut incoming).await;
    match result {
        Ok(fields) => Ok((fields, incoming)),
        Err(r) => {
            // A field after the file was refused: the file's bytes go too.
            if let Some(i) = incoming {
                let _ = tokio::fs::remove_file(&i.tmp).await;
            }
            Err(r)
        }
    }
}

async fn read_fields(
    app: &App,
    mp: &mut Multipart,
    session: Option<&Session>,
    lang: Lang,
    incoming: &mut Option<Incoming>,
) -> Result<Fields, Refusal> {
    let idle = app.idle_timeout;
    let bad = |cut: Cut| match cut {
        Cut::Stalled => Refusal::new(
            StatusCode::REQUEST_TIMEOUT,
            "stalled",
            t(lang, "err_stalled").replace("{seconds}", &idle.as_secs().to_string()),
        ),
        Cut::TooSlow => Refusal::new(
            StatusCode::REQUEST_TIMEOUT,
            "too_slow",
            t(lang, "err_too_slow").replace("{rate}", &app.min_upload_rate.to_string()),
        ),
        Cut::Bad(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(app, lang),
        Cut::Bad(e) => Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_form",
            format!(
                "the upload is not a well-formed multipart form: {}",
                e.body_text()
            ),
        ),
    };
    let mut fields = Fields::default();
    let mut count = 0;
    while let Some(mut field) = next_field(mp, idle).await.map_err(bad)? {
        count += 1;
        if count > 16 {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "bad_form",
                "too many form fields".into(),
            ));
        }
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            csrf_check(session, &fields, lang)?;
            if incoming.is_some() {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "bad_form",
                    "one file per upload".into(),
                ));
            }
            let file_name = upload::display_name(field.file_name().unwrap_or_default());
            let dir = app.dirs.tmp();
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(internal(lang))?;
            let tmp = dir.join(random_hex(16).map_err(internal(lang))?);
            let mut out = tokio::fs::File::create(&tmp)
                .await
                .map_err(internal(lang))?;
            let mut hasher = Sha256::new();
            let mut bytes = 0u64;
            let began = std::time::Instant::now();
            loop {
                let chunk = match next_chunk(&mut field, idle).await {
                    Ok(Some(c)) => c,
                    Ok(None) => break,
                    Err(e) => {
                        drop(out);
                        let _ = tokio::fs::remove_file(&tmp).await;
                        return Err(bad(e));
                    }
                };
                bytes += chunk.len() as u64;
                let took = began.elapsed();
                if took > idle && bytes < app.min_upload_rate.saturating_mul(took.as_secs()) {
                    drop(out);
                    let _ = tokio::fs::remove_file(&tmp).await;
                    return Err(bad(Cut::TooSlow));
                }
                if bytes > app.max_bytes {
                    drop(out);
                    let _ = tokio::fs::remove_file(&tmp).await;
                    // The rest of the file is drained as a courtesy, for the idle time at most.
                    let _ = tokio::time::timeout(idle, async {
                        while let Ok(Some(c)) = next_chunk(&mut field, idle).await {
                            bytes += c.len() as u64;
                            if bytes > app.max_bytes + DRAIN_CAP {
                                break;
                            }
                        }
                    })
                    .await;
                    drop(field);
                    drain_fields(mp, DRAIN_CAP, idle).await;
                    return Err(too_large(app, lang));
                }
                hasher.update(&chunk);
                if let Err(e) = out.write_all(&chunk).await {
                    drop(out);
                    let _ = tokio::fs::remove_file(&tmp).await;
                    return Err(internal(lang)(e));
                }
            }
            out.flush().await.map_err(internal(lang))?;
            out.sync_all().await.map_err(internal(lang))?;
            *incoming = Some(Incoming {
                tmp,
                bytes,
                sha256: hex(&hasher.finalize()),
                file_name,
            });
        } else {
            let mut value = Vec::new();
            while let Some(c) = next_chunk(&mut field, idle).await.map_err(bad)? {
                value.extend_from_slice(&c);
                if value.len() > 1024 {
                    return Err(Refusal::new(
                        StatusCode::BAD_REQUEST,
                        "bad_form",
                        format!(
                            "the form field `{}` is too long",
                            upload::display_name(&name)
                        ),
                    ));
                }
            }
            let value = String::from_utf8_lossy(&value).trim().to_owned();
            match name.as_str() {
                "schema" => fields.schema = Some(value),
                "period" => fields.period = Some(value),
                "partner" => fields.partner = Some(value),
                "lang" => fields.lang = Some(value),
                "csrf" => fields.csrf = Some(value),
                _ => {}
            }
        }
    }
    Ok(fields)
}

/// A signed-in form must carry its session's anti-forgery token (API calls have none).
fn csrf_check(session: Option<&Session>, fields: &Fields, lang: Lang) -> Result<(), Refusal> {
    match session {
        Some(s) if !fields.csrf.as_deref().is_some_and(|c| s.csrf_ok(c)) => Err(Refusal::word(
            StatusCode::FORBIDDEN,
            "csrf",
            lang,
            "err_csrf",
        )),
        _ => Ok(()),
    }
}

fn too_large(app: &App, lang: Lang) -> Refusal {
    Refusal::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        t(lang, "err_too_large").replace("{mb}", &(app.max_bytes >> 20).to_string()),
    )
}

/// A failure of ours (disk, a task that panicked): logged, and answered in `lang`.
fn internal<E: std::fmt::Display>(lang: Lang) -> impl Fn(E) -> Refusal {
    move |e| {
        tracing::error!("{e}");
        Refusal::word(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            lang,
            "err_internal",
        )
    }
}

/// An upload, from the request's body to the receipt.
async fn receive(
    app: &Shared,
    who: &Who,
    headers: &HeaderMap,
    mp: Result<Multipart, MultipartRejection>,
    session: Option<&Session>,
    lang: Lang,
    event: &mut Event,
) -> Result<Checked, Refusal> {
    let mut mp = mp.map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_form",
            format!(
                "send the file as multipart/form-data with a field `file` ({})",
                e.body_text()
            ),
        )
    })?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > app.max_bytes + (1 << 20)) {
        if !expects_continue(headers) && declared.is_some_and(|n| n <= app.max_bytes + DRAIN_CAP) {
            drain_fields(&mut mp, DRAIN_CAP, app.idle_timeout).await;
        }
        return Err(too_large(app, lang));
    }
    // Only a partner's own uploads count against its hour (the data manager's do not).
    if let Who::Partner(p) = who
        && let Err(wait) = app.rate.take(p)
    {
        drain_fields(&mut mp, DRAIN_CAP, app.idle_timeout).await;
        let mut r = Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            t(lang, "err_rate")
                .replace("{n}", &app.rate.per_hour().to_string())
                .replace("{minutes}", &wait.div_ceil(60).to_string()),
        );
        r.retry_after = Some(wait);
        return Err(r);
    }
    let (fields, incoming) = match read_form(app, &mut mp, session, lang).await {
        Ok(x) => x,
        Err(r) => {
            // Nothing to drain after a stall or a crawl; a file too large was drained already.
            if r.status != StatusCode::PAYLOAD_TOO_LARGE && r.status != StatusCode::REQUEST_TIMEOUT
            {
                drain_fields(&mut mp, DRAIN_CAP, app.idle_timeout).await;
            }
            return Err(r);
        }
    };
    csrf_check(session, &fields, lang)?;
    let Some(incoming) = incoming else {
        return Err(Refusal::word(
            StatusCode::BAD_REQUEST,
            "no_file",
            lang,
            "err_no_file",
        ));
    };
    event.sha256 = Some(incoming.sha256.clone());
    event.bytes = Some(incoming.bytes);
    let refuse = |r: Refusal, incoming: &Incoming| {
        let _ = std::fs::remove_file(&incoming.tmp);
        r
    };
    let partner = match subject(app, who, fields.partner.as_deref(), lang) {
        Ok(p) => p,
        Err(r) => return Err(refuse(r, &incoming)),
    };
    let (schema, period) = match upload::target(
        &app.initiative,
        &partner,
        &incoming.file_name,
        fields.schema.as_deref(),
        fields.period.as_deref(),
        lang,
    ) {
        Ok(x) => x,
        Err(why) => {
            return Err(refuse(
                Refusal::new(StatusCode::BAD_REQUEST, "bad_target", why),
                &incoming,
            ));
        }
    };
    let Some(permit) = app.checkers.acquire(&partner).await else {
        return Err(refuse(
            Refusal::word(StatusCode::SERVICE_UNAVAILABLE, "busy", lang, "err_busy"),
            &incoming,
        ));
    };
    let app2 = app.clone();
    let who2 = who.clone();
    let now = (app.clock)();
    let tmp = incoming.tmp.clone();
    let joined = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let h = Handling {
            dirs: &app2.dirs,
            initiative: &app2.initiative,
            partner: &partner,
            by: &who2,
            schema: &schema,
            period: &period,
            lang,
            now: &now,
            at_once: app2.initiative.portal.ingest_at_once && app2.on_queued.is_some(),
        };
        upload::check(&h, incoming)
    })
    .await;
    match joined {
        Ok(Ok(checked)) => {
            if checked.upload.status == "ingesting"
                && let Some(hook) = &app.on_queued
            {
                hook();
            }
            Ok(checked)
        }
        Ok(Err(e)) => {
            let _ = std::fs::remove_file(&tmp);
            Err(internal(lang)(e))
        }
        // A panic while checking one file (a bug of ours) answers that upload alone.
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(internal(lang)(e))
        }
    }
}

async fn upload_form(
    State(app): State<Shared>,
    headers: HeaderMap,
    mp: Result<Multipart, MultipartRejection>,
) -> Response {
    let mut event = app.audit(None, &Method::POST, "/upload", StatusCode::OK, "");
    let Some((_, s)) = session(&app, &headers) else {
        let r = Refusal::word(
            StatusCode::UNAUTHORIZED,
            "signed_out",
            Lang::He,
            "err_signed_out",
        );
        drain_refused(mp, &headers, app.idle_timeout).await;
        app.log_refusal(event, &r);
        return app.refusal_page(&r, Lang::He, None, None);
    };
    event.who = s.who.label();
    let lang = lang_of(&app, Some(&s.who), None);
    if !same_origin(&headers) {
        let r = Refusal::word(StatusCode::FORBIDDEN, "cross_site", lang, "err_csrf");
        app.log_refusal(event, &r);
        return app.refusal_page(&r, lang, Some(&s.who), Some(&s.csrf));
    }
    match receive(&app, &s.who, &headers, mp, Some(&s), lang, &mut event).await {
        Ok(checked) => {
            event.outcome = checked.upload.status.clone();
            event.upload = Some(checked.upload.id.clone());
            app.log(event, "upload");
            html_response(StatusCode::OK, checked.receipt_html)
        }
        Err(r) => {
            app.log_refusal(event, &r);
            app.refusal_page(&r, lang, Some(&s.who), Some(&s.csrf))
        }
    }
}

async fn api_upload(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<Params>,
    mp: Result<Multipart, MultipartRejection>,
) -> Response {
    let mut event = app.audit(None, &Method::POST, "/api/submissions", StatusCode::OK, "");
    let who = match api_caller(&app, &headers) {
        Ok(w) => w,
        Err(r) => {
            drain_refused(mp, &headers, app.idle_timeout).await;
            app.log_refusal(event, &r);
            return json_refusal(&r);
        }
    };
    event.who = who.label();
    let lang = lang_of(&app, Some(&who), q.lang.as_deref());
    match receive(&app, &who, &headers, mp, None, lang, &mut event).await {
        Ok(checked) => {
            let status = match checked.upload.status.as_str() {
                "queued" | "ingesting" => StatusCode::CREATED,
                "unreadable" => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::OK,
            };
            event.status = status.as_u16();
            event.outcome = checked.upload.status.clone();
            event.upload = Some(checked.upload.id.clone());
            app.log(event, "upload");
            (
                status,
                axum::Json(serde_json::json!({
                    "upload": checked.upload,
                    "report": checked.report,
                    "receipt": format!("/uploads/{}", checked.upload.id),
                })),
            )
                .into_response()
        }
        Err(r) => {
            app.log_refusal(event, &r);
            json_refusal(&r)
        }
    }
}

// ---------------------------------------------------------------- reading back

/// The caller of a page: a signed-in browser, or a script with a bearer token.
fn page_caller(app: &App, headers: &HeaderMap) -> Option<(Who, Option<String>)> {
    if let Some((_, s)) = session(app, headers) {
        return Some((s.who, Some(s.csrf)));
    }
    bearer(headers)
        .and_then(|token| app.tokens.verify(token))
        .map(|w| (w, None))
}

/// A page that needs a caller; a refusal page (and an audit line) otherwise.
async fn with_caller(
    app: &Shared,
    headers: &HeaderMap,
    path: &str,
    q: &Params,
    f: impl FnOnce(&Who, Lang) -> Result<Response, Refusal>,
) -> Response {
    let Some((who, csrf)) = page_caller(app, headers) else {
        let lang = lang_of(app, None, q.lang.as_deref());
        let r = Refusal::word(
            StatusCode::UNAUTHORIZED,
            "signed_out",
            lang,
            "err_signed_out",
        );
        app.log(
            app.audit(None, &Method::GET, path, r.status, r.code),
            "refused",
        );
        let mut res = app.page(
            "login.html",
            lang,
            None,
            None,
            context! { error => r.message },
        );
        *res.status_mut() = r.status;
        return res;
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

fn not_found_refusal(lang: Lang) -> Refusal {
    Refusal::word(StatusCode::NOT_FOUND, "not_found", lang, "err_not_found")
}

async fn upload_page(
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
fn receipt_path(app: &App, partner: &str, file_name: &str) -> Option<std::path::PathBuf> {
    if file_name.is_empty() || file_name.contains(['/', '\\']) || file_name.starts_with('.') {
        return None;
    }
    let p = app
        .dirs
        .ws
        .join("outbox")
        .join(partner)
        .join(format!("{file_name}.receipt.html"));
    p.is_file().then_some(p)
}

async fn receipt_page(
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
fn latest_report_page(
    app: &App,
    who: &Who,
    shared: bool,
    lang: Lang,
    page: &str,
) -> Result<Response, Refusal> {
    if matches!(who, Who::Partner(_)) && !shared {
        return Err(Refusal::word(
            StatusCode::FORBIDDEN,
            "not_shared",
            lang,
            "err_not_shared",
        ));
    }
    let base = app.dirs.ws.join("reports/latest");
    let base = if lang == Lang::En {
        base.join("en")
    } else {
        base
    };
    let html = std::fs::read_to_string(base.join(page)).map_err(|_| not_found_refusal(lang))?;
    Ok(html_response(StatusCode::OK, html))
}

async fn quality_page(
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

async fn report_page(
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

fn admin_only(who: &Who, lang: Lang) -> Result<(), Refusal> {
    match who {
        Who::Admin => Ok(()),
        Who::Partner(_) => Err(Refusal::word(
            StatusCode::FORBIDDEN,
            "admin_only",
            lang,
            "err_forbidden",
        )),
    }
}

async fn admin_page(
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
        Ok(app2.page(
            "admin.html",
            lang,
            Some(who),
            csrf.as_deref(),
            context! { grid => grid, runs => runs, holders => Value::from_serialize(&holders) },
        ))
    })
    .await
}

/// `results/completeness.csv` as rows of (column → value).
fn completeness_rows(app: &App) -> Vec<BTreeMap<String, String>> {
    let Ok(text) = std::fs::read_to_string(app.dirs.ws.join("results/completeness.csv")) else {
        return Vec::new();
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let Ok(headers) = reader.headers().cloned() else {
        return Vec::new();
    };
    reader
        .records()
        .flatten()
        .map(|r| {
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_owned(), v.trim_start_matches('\'').to_owned()))
                .collect()
        })
        .collect()
}

/// The completeness grid: per schema, partner × period status.
fn completeness_grid(app: &App, lang: Lang) -> Vec<Value> {
    let rows = completeness_rows(app);
    let mut by_schema: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>> =
        BTreeMap::new();
    let mut periods: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for r in &rows {
        let get = |k: &str| r.get(k).cloned().unwrap_or_default();
        let (schema, partner, period) = (get("schema"), get("partner"), get("period"));
        periods
            .entry(schema.clone())
            .or_default()
            .insert(period.clone());
        by_schema
            .entry(schema)
            .or_default()
            .entry(partner)
            .or_default()
            .insert(period, get("status"));
    }
    by_schema
        .into_iter()
        .map(|(schema, partners)| {
            let ps: Vec<String> = periods
                .get(&schema)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default();
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
fn last_runs(app: &App, n: usize) -> Vec<serde_json::Value> {
    let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(app.dirs.ws.join("runs"))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
        .iter()
        .rev()
        .take(n)
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .map(|v| {
            serde_json::json!({
                "started": v["started"],
                "files": v["files"].as_array().map_or(0, Vec::len),
                "seconds": (v["seconds"].as_f64().unwrap_or_default() * 10.0).round() / 10.0,
                "store_changed": v["store_changed"],
                "store_version": v["store_version"],
            })
        })
        .collect()
}

// ---------------------------------------------------------------- JSON API

async fn api_guarded(
    app: &Shared,
    headers: &HeaderMap,
    path: &str,
    f: impl FnOnce(Who) -> Result<serde_json::Value, Refusal> + Send + 'static,
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

fn partner_listing(app: &App, partner: &str) -> serde_json::Value {
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

async fn api_list(
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

async fn api_one(
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

async fn api_completeness(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let app2 = app.clone();
    api_guarded(&app, &headers, "/api/completeness", move |who| {
        admin_only(&who, Lang::En)?;
        Ok(serde_json::to_value(completeness_rows(&app2)).unwrap_or_default())
    })
    .await
}

async fn api_runs(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let app2 = app.clone();
    api_guarded(&app, &headers, "/api/runs", move |who| {
        admin_only(&who, Lang::En)?;
        Ok(serde_json::Value::from(last_runs(&app2, 50)))
    })
    .await
}
