//! Logging in and out, preferences, the settings page (users, roles, API tokens, page 8)
//! and CSV downloads. Every form is a POST with the CSRF token; auth decides what a person
//! may do, the app only passes their token on.

use axum::Form;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use crate::AppState;
use crate::api::{Controls, message, rows, text};
use crate::layout::{Cell, Page};
use crate::pages::prepare;
use crate::session::{self, safe_next};

fn see_other(location: &str, cookies: impl IntoIterator<Item = HeaderValue>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    response.headers_mut().insert(
        LOCATION,
        HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/")),
    );
    for c in cookies {
        response.headers_mut().append(SET_COOKIE, c);
    }
    response
}

fn forbidden(headers: &HeaderMap) -> Response {
    let page = Page::new(headers, "/login", Controls::default());
    let mut response = page.render(
        page.t("auth.title"),
        page.notice("error", page.t("auth.expired")),
        false,
    );
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

/// `?next=` of the login page.
#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

fn login_page(
    headers: &HeaderMap,
    next: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let page = Page::new(headers, "/login", Controls::default());
    let csrf = page.csrf.clone();
    let next = next.to_string();
    let error = error.map(|e| page.notice("error", &e)).unwrap_or_default();
    let form = view! {
        <form method="post" action="/login" class="login">
            <input type="hidden" name="csrf" value=csrf/>
            <input type="hidden" name="next" value=next/>
            <label>{page.t("auth.email")}<input type="email" name="email" autocomplete="username" required=true/></label>
            <label>{page.t("auth.password")}<input type="password" name="password" autocomplete="current-password" required=true/></label>
            <button type="submit">{page.t("auth.login")}</button>
        </form>
    }
    .to_html();
    let main = format!("<p>{}</p>{error}{form}", page.t("app.tagline"));
    let mut response = page.render(page.t("auth.title"), main, false);
    *response.status_mut() = status;
    response
}

/// `GET /login`.
pub async fn login_form(headers: HeaderMap, Query(next): Query<Next>) -> Response {
    let next = safe_next(next.next.as_deref());
    login_page(&headers, &next, None, StatusCode::OK)
}

/// The login form.
#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

/// `POST /login`: auth checks the password; the tokens go into the session cookies.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    if !session::csrf_ok(&headers, &form.csrf) {
        return forbidden(&headers);
    }
    let lang = Page::new(&headers, "/login", Controls::default()).lang;
    let response = state
        .auth_post("/v1/auth/login", &headers, None)
        .json(&serde_json::json!({ "email": form.email, "password": form.password }))
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(_) => {
            let e = lang.t("auth.unavailable").to_string();
            return login_page(&headers, &next, Some(e), StatusCode::SERVICE_UNAVAILABLE);
        }
    };
    match response.status().as_u16() {
        200 => match response.json::<session::Tokens>().await {
            Ok(tokens) => see_other(&next, tokens.cookies()),
            Err(_) => {
                let e = lang.t("auth.unavailable").to_string();
                login_page(&headers, &next, Some(e), StatusCode::BAD_GATEWAY)
            }
        },
        429 => {
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("60")
                .to_string();
            let e = format!(
                "{} {wait} {}",
                lang.t("auth.throttled"),
                lang.t("auth.seconds")
            );
            login_page(&headers, &next, Some(e), StatusCode::TOO_MANY_REQUESTS)
        }
        400 | 401 | 422 => {
            let e = lang.t("auth.invalid").to_string();
            login_page(&headers, &next, Some(e), StatusCode::UNAUTHORIZED)
        }
        _ => {
            let e = lang.t("auth.unavailable").to_string();
            login_page(&headers, &next, Some(e), StatusCode::BAD_GATEWAY)
        }
    }
}

/// A form with only the CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// `POST /logout`: ends the session at auth (the refresh token family is revoked) and
/// clears the cookies.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !session::csrf_ok(&headers, &form.csrf) {
        return forbidden(&headers);
    }
    if let Some(refresh) = session::cookie(&headers, session::REFRESH) {
        state.refreshes.forget(refresh).await;
        let ended = state
            .auth_post("/v1/auth/logout", &headers, None)
            .json(&serde_json::json!({ "refresh_token": refresh }))
            .send()
            .await;
        if let Err(e) = ended {
            tracing::warn!(error = %e, "logout did not reach auth");
        }
    }
    see_other("/login?next=/", session::cleared())
}

/// The language and theme buttons.
#[derive(Deserialize)]
pub struct PrefsForm {
    csrf: String,
    back: Option<String>,
    lang: Option<String>,
    theme: Option<String>,
}

/// `POST /prefs`: remembers the language or theme for a year.
pub async fn prefs(headers: HeaderMap, Form(form): Form<PrefsForm>) -> Response {
    if !session::csrf_ok(&headers, &form.csrf) {
        return forbidden(&headers);
    }
    const YEAR: u64 = 365 * 24 * 3600;
    let mut cookies = Vec::new();
    if let Some(lang) = form.lang.as_deref().filter(|l| ["ru", "en"].contains(l)) {
        cookies.push(session::set_cookie(session::LANG, lang, YEAR));
    }
    if let Some(theme) = form
        .theme
        .as_deref()
        .filter(|t| ["light", "dark", "auto"].contains(t))
    {
        cookies.push(session::set_cookie(session::THEME, theme, YEAR));
    }
    see_other(&safe_next(form.back.as_deref()), cookies)
}

/// `GET /csv/{endpoint}`: one table of a metrics answer as a CSV file, with the person's
/// token. Only metrics paths; metrics checks the parameters.
pub async fn csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(endpoint): Path<String>,
) -> Response {
    if !endpoint
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'/')
        || endpoint.contains("//")
    {
        return StatusCode::NOT_FOUND.into_response();
    }
    let here = uri.path_and_query().map_or("/", |p| p.as_str());
    let session = match state.session(&headers, here).await {
        Ok(s) => s,
        Err(logged_out) => return logged_out.into_response(),
    };
    let query = uri.query().unwrap_or("");
    let url = format!("{}/v1/metrics/{endpoint}?{query}", state.metrics_url);
    let answer = state
        .http
        .get(url)
        .bearer_auth(&session.access)
        .header("accept", "text/csv")
        .send()
        .await;
    let answer = match answer {
        Ok(a) => a,
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = Response::builder().status(status);
    for name in [CONTENT_TYPE, CONTENT_DISPOSITION] {
        if let Some(v) = answer.headers().get(name.as_str()) {
            response = response.header(name, v.as_bytes());
        }
    }
    let mut response = response
        .header(CACHE_CONTROL, "no-store")
        .body(Body::from_stream(answer.bytes_stream()))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response());
    for c in session.set_cookies {
        response.headers_mut().append(SET_COOKIE, c);
    }
    response
}

/// `GET /settings`: the organisation's users and API tokens (owners), the person's role.
pub async fn settings(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(controls): Query<Controls>,
) -> Response {
    settings_page(&state, &headers, &uri, controls, None).await
}

/// What the last settings action did.
enum Outcome {
    Saved,
    Refused(String),
    NewToken(String),
}

async fn settings_page(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    controls: Controls,
    outcome: Option<Outcome>,
) -> Response {
    // The controls are kept so that the navigation returns to the same outlet and period.
    let page = match prepare(state, headers, uri, controls).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let s = page.session.clone().expect("prepared");
    let lang = page.lang;
    let role = lang.term("role", s.claims.role.as_str());
    let mut main = format!("<p>{} <strong>{role}</strong>.</p>", page.t("settings.you"));
    match outcome {
        Some(Outcome::Saved) => main.push_str(&page.notice("ok", page.t("settings.done"))),
        Some(Outcome::Refused(why)) => {
            main.push_str(&page.notice("error", &format!("{}: {why}", page.t("settings.refused"))))
        }
        Some(Outcome::NewToken(token)) => {
            let note = page.t("settings.new_token").to_string();
            main.push_str(
                &view! { <div class="notice ok" role="status"><p>{note}</p><p class="token" id="new-token">{token}</p></div> }
                    .to_html(),
            );
        }
        None => {}
    }
    if s.claims.role.as_str() != "owner" {
        main.push_str(&page.notice("", page.t("settings.owners_only")));
        return page.render(page.t("settings.title"), main, false);
    }
    let (users, tokens) = tokio::join!(
        state.auth_get(&s, "/v1/users"),
        state.auth_get(&s, "/v1/tokens"),
    );
    let (users, tokens) = (page.take(users), page.take(tokens));
    let csrf = page.csrf.clone();
    let roles = ["owner", "marketer", "viewer"];
    let role_options = |current: &str| {
        roles
            .iter()
            .map(|r| {
                let selected = *r == current;
                view! { <option value=*r selected=selected>{lang.term("role", r)}</option> }
            })
            .collect_view()
            .to_html()
    };
    let user_rows: Vec<Vec<Cell>> = rows(&users, "users")
        .iter()
        .map(|u| {
            let id = text(u, "user_id");
            let disabled = u["disabled"].as_bool().unwrap_or(false);
            let action = format!("/settings/users/{id}");
            let (toggle, toggle_value) = if disabled {
                (page.t("settings.enable"), "false")
            } else {
                (page.t("settings.disable"), "true")
            };
            let form = format!(
                "<form method=\"post\" action=\"{action}\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <select name=\"role\" aria-label=\"{}\">{}</select>\
                 <button type=\"submit\" name=\"disabled\" value=\"{}\">{}</button>\
                 <button type=\"submit\" name=\"disabled\" value=\"{toggle_value}\">{toggle}</button></form>",
                page.t("settings.role"),
                role_options(text(u, "role")),
                disabled,
                page.t("settings.save"),
            );
            vec![
                Cell::Text(text(u, "email").to_string()),
                Cell::Text(text(u, "display_name").to_string()),
                Cell::Text(page.t(if disabled { "settings.disabled" } else { "settings.active" }).to_string()),
                Cell::Html(form),
            ]
        })
        .collect();
    let users_table = page.table(
        page.t("settings.users"),
        &[
            page.t("auth.email"),
            page.t("settings.name"),
            page.t("settings.status"),
            page.t("settings.role"),
        ],
        user_rows,
    );
    let add_user = format!(
        "<form method=\"post\" action=\"/settings/users\" class=\"stack\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>{}<br><input type=\"email\" name=\"email\" required></label>\
         <label>{}<br><input name=\"display_name\" required></label>\
         <label>{}<br><select name=\"role\">{}</select></label>\
         <label>{}<br><input type=\"password\" name=\"password\" autocomplete=\"new-password\" required></label>\
         <button type=\"submit\">{}</button></form>",
        page.t("auth.email"),
        page.t("settings.name"),
        page.t("settings.role"),
        role_options("viewer"),
        page.t("auth.password"),
        page.t("settings.add"),
    );
    main.push_str(&page.section(
        "users",
        page.t("settings.users"),
        format!(
            "{users_table}<h3>{}</h3>{add_user}",
            page.t("settings.add_user")
        ),
        &[],
    ));
    let token_rows: Vec<Vec<Cell>> = rows(&tokens, "tokens")
        .iter()
        .map(|t| {
            let revoked = t["revoked"].as_bool().unwrap_or(false);
            let scopes = t["scopes"]
                .as_array()
                .map(|s| s.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            let used = match t["last_used_at"].as_str() {
                Some(at) => lang.date(at.get(..10).unwrap_or(at)),
                None => page.t("settings.never").to_string(),
            };
            let action = if revoked {
                Cell::Text(page.t("settings.revoked").to_string())
            } else {
                Cell::Html(format!(
                    "<form method=\"post\" action=\"/settings/tokens/{}/revoke\" class=\"inline\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\">{}</button></form>",
                    text(t, "token_id"),
                    page.t("settings.revoke")
                ))
            };
            let created = text(t, "created_at");
            vec![
                Cell::Text(text(t, "name").to_string()),
                Cell::Text(scopes),
                Cell::Text(lang.date(created.get(..10).unwrap_or(created))),
                Cell::Text(used),
                action,
            ]
        })
        .collect();
    let tokens_table = page.table(
        page.t("settings.tokens"),
        &[
            page.t("settings.token_name"),
            page.t("settings.scopes"),
            page.t("settings.created"),
            page.t("settings.last_used"),
            "",
        ],
        token_rows,
    );
    let create = format!(
        "<form method=\"post\" action=\"/settings/tokens\" class=\"stack\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>{}<br><input name=\"name\" required></label>\
         <label><input type=\"checkbox\" name=\"scope\" value=\"metrics:read\" checked> metrics:read</label>\
         <button type=\"submit\">{}</button></form>",
        page.t("settings.token_name"),
        page.t("settings.create"),
    );
    main.push_str(&page.section(
        "tokens",
        page.t("settings.tokens"),
        format!(
            "{tokens_table}<h3>{}</h3>{create}",
            page.t("settings.create_token")
        ),
        &[],
    ));
    page.render(page.t("settings.title"), main, false)
}

/// Sends a settings action to auth and shows the settings page with its outcome.
async fn act(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> Response {
    if !session::csrf_ok(headers, csrf) {
        return forbidden(headers);
    }
    let uri: Uri = "/settings".parse().expect("a path");
    let session = match state.session(headers, "/settings").await {
        Ok(s) => s,
        Err(logged_out) => return logged_out.into_response(),
    };
    let sent = state
        .auth_request(method, path, headers, Some(&session))
        .json(&body)
        .send()
        .await;
    let outcome = match sent {
        Ok(r) if r.status().is_success() => {
            let body: Value = r.json().await.unwrap_or(Value::Null);
            match body["token"].as_str() {
                Some(token) => Outcome::NewToken(token.to_string()),
                None => Outcome::Saved,
            }
        }
        Ok(r) => {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            Outcome::Refused(message(&text).unwrap_or_else(|| status.to_string()))
        }
        Err(e) => Outcome::Refused(e.to_string()),
    };
    let mut response =
        settings_page(state, headers, &uri, Controls::default(), Some(outcome)).await;
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Adding a user.
#[derive(Deserialize)]
pub struct NewUserForm {
    csrf: String,
    email: String,
    display_name: String,
    role: String,
    password: String,
}

/// `POST /settings/users`.
pub async fn add_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<NewUserForm>,
) -> Response {
    let body = serde_json::json!({ "email": f.email, "display_name": f.display_name, "role": f.role, "password": f.password });
    act(
        &state,
        &headers,
        &f.csrf,
        reqwest::Method::POST,
        "/v1/users",
        body,
    )
    .await
}

/// Changing a user's role or status.
#[derive(Deserialize)]
pub struct UserForm {
    csrf: String,
    role: String,
    disabled: String,
}

/// `POST /settings/users/{id}`.
pub async fn update_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<UserForm>,
) -> Response {
    let body = serde_json::json!({ "role": f.role, "disabled": f.disabled == "true" });
    let path = format!("/v1/users/{}", session::encode(&id));
    act(
        &state,
        &headers,
        &f.csrf,
        reqwest::Method::PATCH,
        &path,
        body,
    )
    .await
}

/// `POST /settings/tokens` (the form's fields, `scope` repeated).
pub async fn create_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let mut csrf = String::new();
    let mut name = String::new();
    let mut scopes = Vec::new();
    for (k, v) in form_pairs(&body) {
        match k.as_str() {
            "csrf" => csrf = v,
            "name" => name = v,
            "scope" => scopes.push(v),
            _ => {}
        }
    }
    let body = serde_json::json!({ "name": name, "scopes": scopes });
    act(
        &state,
        &headers,
        &csrf,
        reqwest::Method::POST,
        "/v1/tokens",
        body,
    )
    .await
}

/// `POST /settings/tokens/{id}/revoke`.
pub async fn revoke_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let path = format!("/v1/tokens/{}", session::encode(&id));
    act(
        &state,
        &headers,
        &f.csrf,
        reqwest::Method::DELETE,
        &path,
        Value::Null,
    )
    .await
}

/// `application/x-www-form-urlencoded` pairs, keys repeated as sent (a malformed body
/// gives none).
fn form_pairs(body: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(body).unwrap_or_default()
}

/// Unknown pages.
pub async fn not_found(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let page = match prepare(&state, &headers, &uri, Controls::default()).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut response = page.render(
        "404",
        page.notice("error", page.t("common.page_not_found")),
        false,
    );
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_pairs_decode_and_repeat() {
        assert_eq!(
            form_pairs("csrf=a%2Bb&name=My+token&scope=metrics%3Aread&scope=x"),
            vec![
                ("csrf".into(), "a+b".into()),
                ("name".into(), "My token".into()),
                ("scope".into(), "metrics:read".into()),
                ("scope".into(), "x".into()),
            ]
        );
    }
}
