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
use backbone_workspace::sort_labels;
use backbone_workspace::tables::{ExpectedRow, RunSummary, files};
use minijinja::{Value, context};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::App;
use crate::audit::Event;
use crate::guard::Session;
use crate::tokens::{Tokens, Who, hex, random_hex};
use crate::upload::{self, CheckedUpload, Handling, Incoming};
use crate::words::{all, t};

mod api;
mod pages;
mod session;
mod uploads;

use api::*;
use pages::*;
use session::*;
use uploads::*;

type Shared = Arc<App>;

/// What a refused request is told.
#[derive(Debug)]
pub(crate) struct HttpRefusal {
    status: StatusCode,
    /// Audit outcome and API error code.
    code: &'static str,
    /// The sentence, in the reader's language.
    message: String,
    retry_after: Option<u64>,
}

impl HttpRefusal {
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
        .route("/admin/approve", post(admin_approve))
        .route("/api/submissions/{id}", get(api_one))
        .route("/api/completeness", get(api_completeness))
        .route("/api/runs", get(api_runs))
        .route("/api/held", get(api_held))
        .route("/api/held/{id}/approve", post(api_approve))
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
    // The token it was opened with must still be its holder's: a rotated or withdrawn token
    // ends its browser sessions at once, as it ends its API access.
    if app.tokens.holder_of(&s.token).as_ref() != Some(&s.who) {
        app.sessions.remove(&id);
        return None;
    }
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
fn api_caller(app: &App, headers: &HeaderMap) -> Result<Who, HttpRefusal> {
    let who = bearer(headers).and_then(|token| app.tokens.verify(token));
    who.ok_or_else(|| {
        HttpRefusal::new(
            StatusCode::UNAUTHORIZED,
            "bad_token",
            "a valid token is needed: `Authorization: Bearer <token>` (from `backbone partner token`)"
                .to_owned(),
        )
    })
}

/// The partner a request is about: a partner may ask only about itself; the data manager
/// names one (or, where `all` is allowed, none for every partner).
fn subject(app: &App, who: &Who, asked: Option<&str>, lang: Lang) -> Result<String, HttpRefusal> {
    let asked = asked.filter(|p| !p.is_empty());
    match (who, asked) {
        (Who::Partner(me), None) => Ok(me.clone()),
        (Who::Partner(me), Some(p)) if p == me => Ok(me.clone()),
        (Who::Partner(_), Some(_)) => Err(HttpRefusal::word(
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
                None => HttpRefusal::new(
                    StatusCode::BAD_REQUEST,
                    "no_partner",
                    format!(
                        "say which partner: the form field `partner` when uploading, \
                         `?partner=<id>` otherwise (one of {ids})"
                    ),
                ),
                Some(p) => HttpRefusal::new(
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
    if let Some(l) = asked.filter(|l| Lang::ALL.iter().any(|x| x.code() == *l)) {
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
    fn log_refusal(&self, mut event: Event, r: &HttpRefusal) {
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
            other_langs => Lang::ALL
                .iter()
                .filter(|l| **l != lang)
                .map(|l| context! { code => l.code(), name => l.name() })
                .collect::<Vec<_>>(),
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
        r: &HttpRefusal,
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

fn json_refusal(r: &HttpRefusal) -> Response {
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
    let r = HttpRefusal::word(
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
