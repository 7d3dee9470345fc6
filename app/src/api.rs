//! The app's view of the other services: the dashboard controls as metrics parameters,
//! metrics answers read as JSON, and the figures in them (a number, or the reason the
//! privacy rules withhold it).

use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

use crate::AppState;
use crate::session::Session;

/// The controls every page shares, as the browser sends them (query string).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Controls {
    /// One outlet, or all of them.
    pub merchant: Option<String>,
    /// `7`, `30`, `90`, `365` or `custom`.
    pub range: Option<String>,
    /// First day of a custom range.
    pub from: Option<String>,
    /// Last day of a custom range.
    pub to: Option<String>,
    /// `previous` or `last_year`.
    pub compare: Option<String>,
}

/// The ranges the period selector offers, with their text keys.
pub const RANGES: [(&str, &str); 5] = [
    ("7", "ctl.days7"),
    ("30", "ctl.days30"),
    ("90", "ctl.days90"),
    ("365", "ctl.months12"),
    ("custom", "ctl.custom"),
];

impl Controls {
    /// The outlet id, when one valid id is chosen.
    pub fn merchant(&self) -> Option<i64> {
        self.merchant.as_deref()?.parse().ok().filter(|m| *m > 0)
    }

    /// The chosen range (30 days unless a known one is chosen).
    pub fn range(&self) -> &str {
        match self.range.as_deref() {
            Some(r) if RANGES.iter().any(|(k, _)| *k == r) => r,
            _ => "30",
        }
    }

    /// The comparison (`previous` unless `last_year`).
    pub fn compare(&self) -> &str {
        match self.compare.as_deref() {
            Some("last_year") => "last_year",
            _ => "previous",
        }
    }

    /// The metrics query for these controls. A custom range passes its dates through:
    /// metrics checks them and its message is shown on the page.
    pub fn metrics_query(&self) -> String {
        let mut q = Vec::new();
        if let Some(m) = self.merchant() {
            q.push(format!("merchant={m}"));
        }
        match self.range() {
            "custom" => {
                for (name, value) in [("from", &self.from), ("to", &self.to)] {
                    if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                        q.push(format!("{name}={}", crate::session::encode(v)));
                    }
                }
            }
            days => q.push(format!("days={days}")),
        }
        q.push(format!("compare={}", self.compare()));
        q.join("&")
    }

    /// The query that keeps these controls on links between pages.
    pub fn page_query(&self) -> String {
        let mut q = Vec::new();
        if let Some(m) = self.merchant() {
            q.push(format!("merchant={m}"));
        }
        q.push(format!("range={}", self.range()));
        if self.range() == "custom" {
            for (name, value) in [("from", &self.from), ("to", &self.to)] {
                if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                    q.push(format!("{name}={}", crate::session::encode(v)));
                }
            }
        }
        q.push(format!("compare={}", self.compare()));
        q.join("&")
    }
}

/// What came back from a service.
#[derive(Debug)]
pub enum Answer {
    /// 200 with a JSON body.
    Ok(Value),
    /// The token was refused: log in again.
    Unauthorized,
    /// The outlet is not the organisation's (or does not exist).
    NotFound,
    /// Any other failure, with the service's message.
    Failed(String),
}

impl AppState {
    /// `GET` a metrics path with the controls' query (plus `extra`).
    pub async fn metrics(&self, session: &Session, path: &str, query: &str) -> Answer {
        let url = format!("{}{path}?{query}", self.metrics_url);
        let response = self.http.get(url).bearer_auth(&session.access).send().await;
        read(response).await
    }

    /// `GET` an auth path with the person's token.
    pub async fn auth_get(&self, session: &Session, path: &str) -> Answer {
        let response = self
            .http
            .get(format!("{}{path}", self.auth_url))
            .bearer_auth(&session.access)
            .send()
            .await;
        read(response).await
    }

    /// A request to auth, passing on the browser's address (auth throttles by it) and the
    /// person's token when there is one.
    pub fn auth_post(
        &self,
        path: &str,
        headers: &HeaderMap,
        session: Option<&Session>,
    ) -> reqwest::RequestBuilder {
        self.auth_request(reqwest::Method::POST, path, headers, session)
    }

    /// A request of any method to auth (see [`AppState::auth_post`]).
    pub fn auth_request(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &HeaderMap,
        session: Option<&Session>,
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.auth_url));
        if let Some(xff) = headers.get("x-forwarded-for") {
            request = request.header("x-forwarded-for", xff.as_bytes());
        }
        if let Some(session) = session {
            request = request.bearer_auth(&session.access);
        }
        request
    }
}

/// Reads a service's answer.
pub async fn read(response: reqwest::Result<reqwest::Response>) -> Answer {
    let response = match response {
        Ok(r) => r,
        Err(e) => return Answer::Failed(format!("service unreachable: {e}")),
    };
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    match status.as_u16() {
        200..=299 => match serde_json::from_str(&body) {
            Ok(v) => Answer::Ok(v),
            Err(e) => Answer::Failed(format!("unreadable answer: {e}")),
        },
        401 => Answer::Unauthorized,
        404 => Answer::NotFound,
        _ => Answer::Failed(message(&body).unwrap_or_else(|| format!("status {status}"))),
    }
}

/// The `error` of a service's JSON error body.
pub fn message(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    v["error"].as_str().map(str::to_string)
}

/// A figure: a number, or why it is withheld.
#[derive(Debug, Clone, PartialEq)]
pub enum Fig {
    /// Released.
    Shown(f64),
    /// Withheld, with the reason's code (`fewer_than_10_customers`…).
    Hidden(String),
}

impl Fig {
    /// Reads `{"value": …, "hidden": …}` or a bare number.
    pub fn of(v: &Value) -> Fig {
        if let Some(n) = v.as_f64() {
            return Fig::Shown(n);
        }
        match (v["value"].as_f64(), v["hidden"].as_str()) {
            (Some(n), _) => Fig::Shown(n),
            (None, Some(reason)) => Fig::Hidden(reason.to_string()),
            (None, None) => Fig::Hidden("no_data".into()),
        }
    }

    /// The number, if shown.
    pub fn value(&self) -> Option<f64> {
        match self {
            Fig::Shown(v) => Some(*v),
            Fig::Hidden(_) => None,
        }
    }
}

/// The rows of a list in an answer (empty when absent).
pub fn rows<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v[key].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// A string field (empty when absent).
pub fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_metrics_parameters() {
        let c = Controls::default();
        assert_eq!(c.metrics_query(), "days=30&compare=previous");
        let c = Controls {
            merchant: Some("500001".into()),
            range: Some("365".into()),
            compare: Some("last_year".into()),
            ..Controls::default()
        };
        assert_eq!(
            c.metrics_query(),
            "merchant=500001&days=365&compare=last_year"
        );
        let c = Controls {
            merchant: Some("x".into()),
            range: Some("custom".into()),
            from: Some("2026-09-01".into()),
            to: Some("2026-09-30".into()),
            compare: Some("bogus".into()),
        };
        assert_eq!(
            c.metrics_query(),
            "from=2026-09-01&to=2026-09-30&compare=previous"
        );
        assert_eq!(
            c.page_query(),
            "range=custom&from=2026-09-01&to=2026-09-30&compare=previous"
        );
    }

    #[test]
    fn figures() {
        let v: Value = serde_json::json!({"a": {"value": 3, "hidden": null},
            "b": {"value": null, "hidden": "fewer_than_5_peers"}, "c": 2.5});
        assert_eq!(Fig::of(&v["a"]), Fig::Shown(3.0));
        assert_eq!(Fig::of(&v["b"]), Fig::Hidden("fewer_than_5_peers".into()));
        assert_eq!(Fig::of(&v["c"]), Fig::Shown(2.5));
        assert_eq!(Fig::of(&v["zz"]), Fig::Hidden("no_data".into()));
    }
}
