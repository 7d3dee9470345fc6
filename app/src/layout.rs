//! The page shell every page shares: header and navigation, the controls (outlet, period,
//! comparison), language and theme, and the explanations of withheld figures; plus the
//! pieces pages are built from (sections with a CSV link, tables, figures).

use std::cell::RefCell;
use std::collections::BTreeSet;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use leptos::prelude::*;
use serde_json::Value;

use crate::api::{Answer, Controls, Fig, RANGES, rows, text};
use crate::i18n::Lang;
use crate::session::{self, Session};

/// The pages in the navigation: path and text key.
pub const NAV: [(&str, &str); 6] = [
    ("/", "nav.overview"),
    ("/customers", "nav.customers"),
    ("/categories", "nav.categories"),
    ("/competitors", "nav.competitors"),
    ("/forecast", "nav.forecast"),
    ("/settings", "nav.settings"),
];

/// One table cell: text, or a withheld figure.
pub enum Cell {
    /// Shown as is.
    Text(String),
    /// Withheld for a reason (explained under the page).
    Hidden(String),
    /// Markup the page built (a form).
    Html(String),
}

/// A page being built: who asks, in which language and theme, with which controls.
pub struct Page {
    /// The language.
    pub lang: Lang,
    /// `light`, `dark` or `auto`.
    pub theme: &'static str,
    /// The CSRF token for forms.
    pub csrf: String,
    /// Cookies to set (CSRF, refreshed session).
    pub set_cookies: Vec<HeaderValue>,
    /// The person, when logged in.
    pub session: Option<Session>,
    /// The controls.
    pub controls: Controls,
    /// This page's path.
    pub path: String,
    /// The organisation's outlets: id and label.
    pub outlets: Vec<(i64, String)>,
    /// The period shown and the comparison period (from the answers' `meta`).
    pub meta: Option<Value>,
    /// Why figures on this page are withheld (explained at the bottom).
    hidden: RefCell<BTreeSet<String>>,
    /// What could not be loaded.
    errors: RefCell<Vec<String>>,
    /// The outlet asked for is not the organisation's.
    not_found: std::cell::Cell<bool>,
}

impl Page {
    /// A page for this request.
    pub fn new(headers: &HeaderMap, path: &str, controls: Controls) -> Page {
        let lang = Lang::choose(session::cookie(headers, session::LANG), headers);
        let theme = match session::cookie(headers, session::THEME) {
            Some("light") => "light",
            Some("dark") => "dark",
            _ => "auto",
        };
        let (csrf, set) = session::csrf_token(headers);
        Page {
            lang,
            theme,
            csrf,
            set_cookies: set.into_iter().collect(),
            session: None,
            controls,
            path: path.to_string(),
            outlets: Vec::new(),
            meta: None,
            hidden: RefCell::default(),
            errors: RefCell::default(),
            not_found: std::cell::Cell::new(false),
        }
    }

    /// The body of a service's answer; a failure is noted for the page (shown above its
    /// content) and gives `null`, so the rest of the page still shows.
    pub fn take(&self, answer: Answer) -> Value {
        match answer {
            Answer::Ok(v) => v,
            Answer::NotFound => {
                self.not_found.set(true);
                Value::Null
            }
            Answer::Unauthorized => {
                self.errors.borrow_mut().push("401".into());
                Value::Null
            }
            Answer::Failed(message) => {
                if !self.errors.borrow().contains(&message) {
                    self.errors.borrow_mut().push(message);
                }
                Value::Null
            }
        }
    }

    /// A figure inline: its text, or a dash linking to why it is withheld.
    pub fn fig(&self, fig: &Fig, unit: &str) -> String {
        match self.cell(fig, unit) {
            Cell::Text(t) => escape(&t),
            Cell::Hidden(reason) => withheld(self.lang, &reason),
            Cell::Html(html) => html,
        }
    }

    /// Text for `key`.
    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    /// A figure as a cell, formatted by `unit` (`kopecks`, `count`, `ratio`, `change`,
    /// `percentile`, `decimal`).
    pub fn cell(&self, fig: &Fig, unit: &str) -> Cell {
        match fig {
            Fig::Shown(v) => Cell::Text(self.format(*v, unit)),
            Fig::Hidden(reason) => {
                self.hidden.borrow_mut().insert(reason.clone());
                Cell::Hidden(reason.clone())
            }
        }
    }

    /// A number in `unit`.
    pub fn format(&self, v: f64, unit: &str) -> String {
        let l = self.lang;
        match unit {
            "kopecks" => l.money(v),
            "count" => l.int(v.round() as i64),
            "ratio" => l.percent(v),
            "change" => l.change(v),
            "percentile" => l.dec(v, 0),
            _ => l.dec(v, 2),
        }
    }

    /// The link to download one table of a metrics answer as CSV.
    pub fn csv_href(&self, endpoint: &str, table: &str) -> String {
        format!(
            "/csv/{endpoint}?{}&table={table}",
            self.controls.metrics_query()
        )
    }

    /// A section: heading, what is in it (chart, table) and its CSV download(s).
    pub fn section(&self, id: &str, title: &str, body: String, csv: &[(&str, &str)]) -> String {
        let csv_label = self.t("common.csv");
        let links = csv
            .iter()
            .map(|(endpoint, table)| {
                let href = self.csv_href(endpoint, table);
                let name = if csv.len() > 1 {
                    format!("{csv_label} ({})", table.replace('_', " "))
                } else {
                    csv_label.to_string()
                };
                view! { <a class="csv" href=href download="">{name}</a> }
            })
            .collect_view();
        let title = title.to_string();
        let id = id.to_string();
        view! {
            <section class="card" id=id>
                <h2>{title}</h2>
                <div inner_html=body></div>
                <p class="downloads">{links}</p>
            </section>
        }
        .to_html()
    }

    /// A table with a header row.
    pub fn table(&self, caption: &str, head: &[&str], body: Vec<Vec<Cell>>) -> String {
        let head = head
            .iter()
            .map(|h| view! { <th scope="col">{h.to_string()}</th> })
            .collect_view();
        let body = body
            .into_iter()
            .map(|row| {
                let cells = row
                    .into_iter()
                    .enumerate()
                    .map(|(i, cell)| match cell {
                        Cell::Text(t) if i == 0 => view! { <th scope="row">{t}</th> }.into_any(),
                        Cell::Text(t) => view! { <td>{t}</td> }.into_any(),
                        Cell::Html(html) => view! { <td inner_html=html></td> }.into_any(),
                        Cell::Hidden(reason) => {
                            let inner = withheld(self.lang, &reason);
                            view! { <td class="withheld" inner_html=inner></td> }.into_any()
                        }
                    })
                    .collect_view();
                view! { <tr>{cells}</tr> }
            })
            .collect_view();
        let caption = caption.to_string();
        view! {
            <div class="scroll"><table>
                <caption class="visually-hidden">{caption}</caption>
                <thead><tr>{head}</tr></thead>
                <tbody>{body}</tbody>
            </table></div>
        }
        .to_html()
    }

    /// A line of text for a message or an error.
    pub fn notice(&self, class: &str, message: &str) -> String {
        let class = format!("notice {class}");
        let message = message.to_string();
        view! { <p class=class role="status">{message}</p> }.to_html()
    }

    /// Reads the outlets (and the default period) for the outlet selector.
    pub fn set_outlets(&mut self, answer: &Value) {
        self.outlets = rows(answer, "outlets")
            .iter()
            .map(|o| {
                let id = o["merchant_id"].as_i64().unwrap_or(0);
                let group = self.lang.term("group", text(o, "category_group"));
                (
                    id,
                    format!(
                        "{} · {} · {group} · #{id}",
                        text(o, "name"),
                        text(o, "city")
                    ),
                )
            })
            .collect();
    }

    /// The whole HTML document around `main`.
    pub fn render(&self, title: &str, main: String, with_controls: bool) -> Response {
        let lang = self.lang;
        let nav = if self.session.is_some() {
            let q = self.controls.page_query();
            NAV.iter()
                .map(|(path, key)| {
                    let href = format!("{path}?{q}");
                    let current = (*path == self.path).then_some("page");
                    let label = lang.t(key);
                    view! { <a href=href aria-current=current>{label}</a> }
                })
                .collect_view()
                .to_html()
        } else {
            String::new()
        };
        let controls = if with_controls && self.session.is_some() {
            self.controls_form()
        } else {
            String::new()
        };
        let prefs = self.prefs_form();
        let mut notices = String::new();
        if self.not_found.get() {
            notices.push_str(&self.notice("error", self.t("common.not_found")));
        }
        for e in self.errors.borrow().iter() {
            notices.push_str(&self.notice("error", &format!("{}: {e}", self.t("common.error"))));
        }
        let explanations = self.explanations();
        let theme_attr = match self.theme {
            "auto" => String::new(),
            theme => format!(" data-theme=\"{theme}\""),
        };
        let role = self
            .session
            .as_ref()
            .map(|s| lang.term("role", s.claims.role.as_str()))
            .unwrap_or_default();
        let logout = if self.session.is_some() {
            let csrf = self.csrf.clone();
            let label = lang.t("auth.logout");
            view! {
                <form method="post" action="/logout" class="inline">
                    <input type="hidden" name="csrf" value=csrf/>
                    <span class="who">{role}</span>
                    <button type="submit" class="link">{label}</button>
                </form>
            }
            .to_html()
        } else {
            String::new()
        };
        let html = format!(
            "<!DOCTYPE html><html lang=\"{code}\"{theme_attr}><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title} · Lyra</title><link rel=\"stylesheet\" href=\"/static/app.css\">\
             <script src=\"/static/app.js\" defer></script></head><body>\
             <a class=\"skip\" href=\"#main\">{skip}</a>\
             <header class=\"top\"><a class=\"brand\" href=\"/\">Lyra</a>\
             <nav aria-label=\"{nav_label}\">{nav}</nav><div class=\"prefs\">{prefs}{logout}</div></header>\
             {controls}<main id=\"main\"><h1>{title}</h1>{notices}{main}</main>{explanations}</body></html>",
            code = lang.code(),
            title = escape(title),
            skip = lang.t("nav.main"),
            nav_label = lang.t("nav.main"),
        );
        let status = if self.not_found.get() {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        let mut response = (
            status,
            [
                (
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            html,
        )
            .into_response();
        for c in self
            .set_cookies
            .iter()
            .chain(self.session.iter().flat_map(|s| s.set_cookies.iter()))
        {
            response.headers_mut().append(SET_COOKIE, c.clone());
        }
        response
    }

    fn controls_form(&self) -> String {
        let lang = self.lang;
        let c = &self.controls;
        let chosen = c.merchant();
        let outlets = self
            .outlets
            .iter()
            .map(|(id, label)| {
                let value = id.to_string();
                let selected = chosen == Some(*id);
                let label = label.clone();
                view! { <option value=value selected=selected>{label}</option> }
            })
            .collect_view();
        let ranges = RANGES
            .iter()
            .map(|(value, key)| {
                let selected = c.range() == *value;
                let label = lang.t(key);
                view! { <option value=*value selected=selected>{label}</option> }
            })
            .collect_view();
        let compares = [("previous", "ctl.previous"), ("last_year", "ctl.last_year")]
            .iter()
            .map(|(value, key)| {
                let selected = c.compare() == *value;
                let label = lang.t(key);
                view! { <option value=*value selected=selected>{label}</option> }
            })
            .collect_view();
        let meta = self.meta.clone().unwrap_or_default();
        let from = c
            .from
            .clone()
            .filter(|_| c.range() == "custom")
            .unwrap_or_else(|| text(&meta, "from").to_string());
        let to =
            c.to.clone()
                .filter(|_| c.range() == "custom")
                .unwrap_or_else(|| text(&meta, "to").to_string());
        let period = if meta.is_null() {
            String::new()
        } else {
            format!(
                "{} {} – {}, {} {} – {}",
                lang.t("ctl.showing"),
                lang.date(text(&meta, "from")),
                lang.date(text(&meta, "to")),
                lang.t("ctl.compared"),
                lang.date(text(&meta, "compare_from")),
                lang.date(text(&meta, "compare_to")),
            )
        };
        let custom_class = if c.range() == "custom" {
            "custom"
        } else {
            "custom off"
        };
        let action = self.path.clone();
        view! {
            <form class="controls" method="get" action=action>
                <label>{lang.t("ctl.outlet")}
                    <select name="merchant">
                        <option value="" selected=chosen.is_none()>{lang.t("ctl.all_outlets")}</option>
                        {outlets}
                    </select>
                </label>
                <label>{lang.t("ctl.period")}<select name="range">{ranges}</select></label>
                <label class=custom_class>{lang.t("ctl.from")}<input type="date" name="from" value=from/></label>
                <label class=custom_class>{lang.t("ctl.to")}<input type="date" name="to" value=to/></label>
                <label>{lang.t("ctl.compare")}<select name="compare">{compares}</select></label>
                <button type="submit">{lang.t("ctl.apply")}</button>
                <p class="period" id="period">{period}</p>
            </form>
        }
        .to_html()
    }

    fn prefs_form(&self) -> String {
        let lang = self.lang;
        let csrf = self.csrf.clone();
        let back = match self.controls.page_query() {
            q if self.session.is_some() => format!("{}?{q}", self.path),
            _ => self.path.clone(),
        };
        let langs = [("ru", "RU"), ("en", "EN")]
            .iter()
            .map(|(code, label)| {
                let pressed = if lang.code() == *code { "true" } else { "false" };
                view! { <button type="submit" name="lang" value=*code aria-pressed=pressed>{*label}</button> }
            })
            .collect_view();
        let themes = [("light", "ctl.light"), ("dark", "ctl.dark"), ("auto", "ctl.auto")]
            .iter()
            .map(|(value, key)| {
                let pressed = if self.theme == *value { "true" } else { "false" };
                view! { <button type="submit" name="theme" value=*value aria-pressed=pressed>{lang.t(key)}</button> }
            })
            .collect_view();
        view! {
            <form method="post" action="/prefs" class="inline">
                <input type="hidden" name="csrf" value=csrf/>
                <input type="hidden" name="back" value=back/>
                <span role="group" aria-label=lang.t("ctl.language")>{langs}</span>
                <span role="group" aria-label=lang.t("ctl.theme")>{themes}</span>
            </form>
        }
        .to_html()
    }

    /// The explanations of the reasons figures on this page are withheld.
    fn explanations(&self) -> String {
        let hidden = self.hidden.borrow();
        if hidden.is_empty() {
            return String::new();
        }
        let items = hidden
            .iter()
            .map(|reason| {
                let id = format!("why-{reason}");
                let text = self.lang.term("hidden", reason);
                view! { <li id=id>{text}</li> }
            })
            .collect_view();
        let title = self.t("common.hidden_title");
        view! {
            <footer class="privacy"><h2>{title}</h2><ul>{items}</ul></footer>
        }
        .to_html()
    }
}

/// A withheld figure: a dash linking to the explanation of `reason` under the page.
fn withheld(lang: Lang, reason: &str) -> String {
    let why = escape(&lang.term("hidden", reason));
    format!(
        "<a class=\"withheld\" href=\"#why-{}\" title=\"{why}\">—<sup>?</sup></a>",
        escape(reason)
    )
}

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The style sheet.
pub const CSS: &str = include_str!("../static/app.css");
/// The one small script (auto-apply of the controls; everything works without it).
pub const JS: &str = include_str!("../static/app.js");
