//! Receiving an upload: the form read as it streams (the anti-forgery token before the file,
//! caps on fields and size, idle and slow-client deadlines), the bytes hashed to a temporary
//! file, then checked on the blocking pool.

use super::*;

/// Bytes of a refused request's body read and thrown away so that the client gets to read
/// the answer (a server that closes with unread data makes the client's kernel reset the
/// connection, and the answer is lost).
pub(super) const DRAIN_CAP: u64 = 64 << 20;

pub(super) fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
}

/// Drains a refused upload's body (unless the client waits for a 100 Continue it will not
/// get).
pub(super) async fn drain_refused(
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
pub(super) async fn drain_fields(mp: &mut Multipart, mut budget: u64, idle: Duration) {
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
pub(super) enum Cut {
    Bad(MultipartError),
    Stalled,
    TooSlow,
}

/// The next field of the form, unless the client sends nothing for `idle`.
pub(super) async fn next_field(
    mp: &mut Multipart,
    idle: Duration,
) -> Result<Option<Field<'_>>, Cut> {
    match tokio::time::timeout(idle, mp.next_field()).await {
        Ok(r) => r.map_err(Cut::Bad),
        Err(_) => Err(Cut::Stalled),
    }
}

/// The next bytes of a field, unless the client sends nothing for `idle` (a stalled upload
/// would otherwise hold its connection and its partial file for ever).
pub(super) async fn next_chunk(
    field: &mut Field<'_>,
    idle: Duration,
) -> Result<Option<Bytes>, Cut> {
    match tokio::time::timeout(idle, field.chunk()).await {
        Ok(r) => r.map_err(Cut::Bad),
        Err(_) => Err(Cut::Stalled),
    }
}

#[derive(Debug, Default)]
pub(super) struct Fields {
    pub(super) schema: Option<String>,
    pub(super) period: Option<String>,
    pub(super) partner: Option<String>,
    pub(super) lang: Option<String>,
    pub(super) csrf: Option<String>,
}

/// Reads the form: small fields into `Fields`, the file streamed to a temporary file with
/// its sha256, its size checked as it comes. With `session`, the anti-forgery field must come
/// before the file (our form puts it first), so a forged post is refused before its file is
/// read.
pub(super) async fn read_form(
    app: &App,
    mp: &mut Multipart,
    session: Option<&Session>,
    lang: Lang,
) -> Result<(Fields, Option<Incoming>), HttpRefusal> {
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

pub(super) async fn read_fields(
    app: &App,
    mp: &mut Multipart,
    session: Option<&Session>,
    lang: Lang,
    incoming: &mut Option<Incoming>,
) -> Result<Fields, HttpRefusal> {
    let idle = app.idle_timeout;
    let bad = |cut: Cut| match cut {
        Cut::Stalled => HttpRefusal::new(
            StatusCode::REQUEST_TIMEOUT,
            "stalled",
            t(lang, "err_stalled").replace("{seconds}", &idle.as_secs().to_string()),
        ),
        Cut::TooSlow => HttpRefusal::new(
            StatusCode::REQUEST_TIMEOUT,
            "too_slow",
            t(lang, "err_too_slow").replace("{rate}", &app.min_upload_rate.to_string()),
        ),
        Cut::Bad(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(app, lang),
        Cut::Bad(e) => HttpRefusal::new(
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
            return Err(HttpRefusal::new(
                StatusCode::BAD_REQUEST,
                "bad_form",
                "too many form fields".into(),
            ));
        }
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            csrf_check(session, &fields, lang)?;
            if incoming.is_some() {
                return Err(HttpRefusal::new(
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
                    return Err(HttpRefusal::new(
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
pub(super) fn csrf_check(
    session: Option<&Session>,
    fields: &Fields,
    lang: Lang,
) -> Result<(), HttpRefusal> {
    match session {
        Some(s) if !fields.csrf.as_deref().is_some_and(|c| s.csrf_ok(c)) => Err(HttpRefusal::word(
            StatusCode::FORBIDDEN,
            "csrf",
            lang,
            "err_csrf",
        )),
        _ => Ok(()),
    }
}

pub(super) fn too_large(app: &App, lang: Lang) -> HttpRefusal {
    HttpRefusal::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        t(lang, "err_too_large").replace("{mb}", &(app.max_bytes >> 20).to_string()),
    )
}

/// A failure of ours (disk, a task that panicked): logged, and answered in `lang`.
pub(super) fn internal<E: std::fmt::Display>(lang: Lang) -> impl Fn(E) -> HttpRefusal {
    move |e| {
        tracing::error!("{e}");
        HttpRefusal::word(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            lang,
            "err_internal",
        )
    }
}

/// An upload, from the request's body to the receipt.
pub(super) async fn receive(
    app: &Shared,
    who: &Who,
    headers: &HeaderMap,
    mp: Result<Multipart, MultipartRejection>,
    session: Option<&Session>,
    lang: Lang,
    event: &mut Event,
) -> Result<CheckedUpload, HttpRefusal> {
    let mut mp = mp.map_err(|e| {
        HttpRefusal::new(
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
        let mut r = HttpRefusal::new(
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
        return Err(HttpRefusal::word(
            StatusCode::BAD_REQUEST,
            "no_file",
            lang,
            "err_no_file",
        ));
    };
    event.sha256 = Some(incoming.sha256.clone());
    event.bytes = Some(incoming.bytes);
    let refuse = |r: HttpRefusal, incoming: &Incoming| {
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
                HttpRefusal::new(StatusCode::BAD_REQUEST, "bad_target", why),
                &incoming,
            ));
        }
    };
    let Some(permit) = app.checkers.acquire(&partner).await else {
        return Err(refuse(
            HttpRefusal::word(StatusCode::SERVICE_UNAVAILABLE, "busy", lang, "err_busy"),
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

pub(super) async fn upload_form(
    State(app): State<Shared>,
    headers: HeaderMap,
    mp: Result<Multipart, MultipartRejection>,
) -> Response {
    let mut event = app.audit(None, &Method::POST, "/upload", StatusCode::OK, "");
    let Some((_, s)) = session(&app, &headers) else {
        let r = HttpRefusal::word(
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
        let r = HttpRefusal::word(StatusCode::FORBIDDEN, "cross_site", lang, "err_csrf");
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

pub(super) async fn api_upload(
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
