//! The dashboard pages (PRODUCT.md §4, pages 1–5): each asks metrics for its answers in
//! parallel with the person's token, then draws charts and tables from them. Every figure
//! keeps the privacy rules' verdict: a withheld one is shown as withheld, with the reason.

use axum::extract::{Query, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use leptos::prelude::*;
use serde_json::Value;

use crate::AppState;
use crate::api::{Controls, Fig, rows, text};
use crate::charts::{self, PALETTE, Series};
use crate::layout::{Cell, Page, escape};

/// The page for this request with a verified session; otherwise the response to send
/// (the login page, or a notice for bank admins, who have no organisation dashboards).
pub async fn prepare(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    controls: Controls,
) -> Result<Page, Response> {
    let mut page = Page::new(headers, uri.path(), controls);
    let here = uri.path_and_query().map_or("/", |p| p.as_str());
    let session = state
        .session(headers, here)
        .await
        .map_err(IntoResponse::into_response)?;
    let bank_admin = session.claims.org.is_none();
    page.session = Some(session);
    if bank_admin {
        let notice = page.notice("", page.t("auth.bank_admin"));
        return Err(page.render("Lyra", notice, false));
    }
    Ok(page)
}

/// [`prepare`]s the page, then fetches the organisation's outlets (the selector) and each
/// metrics `path` with the controls' query plus its own `extra` parameters, all at once.
/// A failed answer is `null` and noted on the page.
async fn load(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    controls: Controls,
    paths: &[(&str, &str)],
) -> Result<(Page, Vec<Value>), Response> {
    let mut page = prepare(state, headers, uri, controls).await?;
    let q = page.controls.metrics_query();
    let s = page.session.clone().expect("prepared");
    let queries: Vec<String> = paths
        .iter()
        .map(|(_, extra)| match *extra {
            "" => q.clone(),
            extra => format!("{q}&{extra}"),
        })
        .collect();
    let (outlets, answers) = tokio::join!(
        state.metrics(&s, "/v1/metrics/outlets", ""),
        futures::future::join_all(
            paths
                .iter()
                .zip(&queries)
                .map(|((path, _), query)| state.metrics(&s, path, query))
        ),
    );
    let outlets = page.take(outlets);
    page.set_outlets(&outlets);
    let answers: Vec<Value> = answers.into_iter().map(|a| page.take(a)).collect();
    page.meta = answers
        .iter()
        .map(|a| &a["meta"])
        .find(|m| m.is_object())
        .cloned();
    Ok((page, answers))
}

/// A heatmap's values: each cell placed by the row and column `at` reads from it (one pass,
/// not a search per cell), `None` where a cell is withheld or missing.
fn grid<'a, R: PartialEq, C: PartialEq>(
    cells: &'a [Value],
    rows: &[R],
    columns: &[C],
    at: impl Fn(&'a Value) -> (R, C),
    value: &str,
) -> Vec<Vec<Option<f64>>> {
    let mut grid = vec![vec![None; columns.len()]; rows.len()];
    for cell in cells {
        let (r, c) = at(cell);
        if let (Some(i), Some(j)) = (
            rows.iter().position(|x| *x == r),
            columns.iter().position(|x| *x == c),
        ) {
            grid[i][j] = Fig::of(&cell[value]).value();
        }
    }
    grid
}

fn legend(items: &[(&str, usize, bool)]) -> String {
    let spans: String = items
        .iter()
        .map(|(name, colour, faint)| {
            let c = PALETTE[*colour % PALETTE.len()];
            let opacity = if *faint { 0.55 } else { 1.0 };
            format!(
                "<span><i style=\"background:rgb({},{},{});opacity:{opacity}\"></i>{}</span>",
                c.0,
                c.1,
                c.2,
                escape(name)
            )
        })
        .collect();
    format!("<p class=\"legend\">{spans}</p>")
}

/// Page 1: KPIs with comparison and peer median, series, driver tree.
pub async fn overview(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(controls): Query<Controls>,
) -> Response {
    let paths = [
        ("/v1/metrics/overview", ""),
        ("/v1/metrics/timeseries", ""),
        ("/v1/metrics/drivers", ""),
    ];
    let (page, answers) = match load(&state, &headers, &uri, controls, &paths).await {
        Ok(loaded) => loaded,
        Err(response) => return response,
    };
    let [kpis, series, drivers] = <[Value; 3]>::try_from(answers).expect("one answer per path");
    let lang = page.lang;

    let cards = rows(&kpis, "kpis")
        .iter()
        .map(|k| {
            let name = text(k, "kpi").to_string();
            let unit = text(k, "unit");
            let value = Fig::of(&k["value"]);
            let change = Fig::of(&k["change"]);
            let direction = match change.value() {
                Some(c) if c > 0.0 => "up",
                Some(c) if c < 0.0 => "down",
                _ => "",
            };
            let raw = value.value().map(|v| v.to_string()).unwrap_or_default();
            let value_html = page.fig(&value, unit);
            let change_html = page.fig(&change, "change");
            let comparison_html = page.fig(&Fig::of(&k["comparison"]), unit);
            let peer_html = page.fig(&Fig::of(&k["peer_median"]), unit);
            let label = lang.term("kpi", &name);
            let sub = format!(
                "<span class=\"{direction}\">{change_html}</span> · {}: {comparison_html}",
                page.t("common.comparison")
            );
            let peer = format!("{}: {peer_html}", page.t("common.peer_median"));
            view! {
                <div class="kpi" data-kpi=name>
                    <div class="label">{label}</div>
                    <div class="value" data-value=raw inner_html=value_html></div>
                    <div class="sub" inner_html=sub></div>
                    <div class="sub" inner_html=peer></div>
                </div>
            }
        })
        .collect_view()
        .to_html();
    let kpi_csv = format!(
        "<p class=\"downloads\"><a class=\"csv\" href=\"{}\" download=\"\">{}</a></p>",
        escape(&page.csv_href("overview", "kpis")),
        page.t("common.csv")
    );

    let points = rows(&series, "points");
    let before = rows(&series, "comparison");
    let labels: Vec<String> = points
        .iter()
        .map(|p| lang.short_date(text(p, "bucket")))
        .collect();
    let column = |list: &[Value], key: &str| -> Vec<Option<f64>> {
        (0..points.len())
            .map(|i| list.get(i).and_then(|p| Fig::of(&p[key]).value()))
            .collect()
    };
    let (now_label, before_label) = (page.t("series.current"), page.t("series.comparison"));
    let revenue_chart = charts::line(
        page.t("overview.revenue_series"),
        &labels,
        &[
            Series {
                name: before_label.into(),
                values: column(before, "revenue"),
                colour: 0,
                faint: true,
            },
            Series {
                name: now_label.into(),
                values: column(points, "revenue"),
                colour: 0,
                faint: false,
            },
        ],
        &|v| lang.money_short(v),
    );
    let revenue = page.section(
        "revenue",
        page.t("overview.revenue_series"),
        format!(
            "{revenue_chart}{}",
            legend(&[(now_label, 0, false), (before_label, 0, true)])
        ),
        &[("timeseries", "points"), ("timeseries", "comparison")],
    );
    let customers_chart = charts::line(
        page.t("overview.customer_series"),
        &labels,
        &[
            Series {
                name: page.t("series.customers").into(),
                values: column(points, "customers"),
                colour: 2,
                faint: false,
            },
            Series {
                name: page.t("series.transactions").into(),
                values: column(points, "transactions"),
                colour: 1,
                faint: false,
            },
        ],
        &|v| lang.int(v.round() as i64),
    );
    let customers = page.section(
        "customers-series",
        page.t("overview.customer_series"),
        format!(
            "{customers_chart}{}",
            legend(&[
                (page.t("series.customers"), 2, false),
                (page.t("series.transactions"), 1, false)
            ])
        ),
        &[("timeseries", "points")],
    );

    let factors = rows(&drivers, "factors");
    let biggest = factors
        .iter()
        .filter_map(|f| Some((text(f, "factor"), Fig::of(&f["contribution"]).value()?)))
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()));
    let unit_of = |factor: &str| match factor {
        "average_ticket" => "kopecks",
        "customers" => "count",
        _ => "decimal",
    };
    let table = page.table(
        page.t("overview.drivers"),
        &[
            page.t("overview.drivers"),
            page.t("common.value"),
            page.t("common.comparison"),
            page.t("common.change"),
            page.t("overview.contribution"),
        ],
        factors
            .iter()
            .map(|f| {
                let factor = text(f, "factor");
                let unit = unit_of(factor);
                vec![
                    Cell::Text(lang.term("kpi", factor)),
                    page.cell(&Fig::of(&f["value"]), unit),
                    page.cell(&Fig::of(&f["comparison"]), unit),
                    page.cell(&Fig::of(&f["change"]), "change"),
                    page.cell(&Fig::of(&f["contribution"]), "kopecks"),
                ]
            })
            .collect(),
    );
    let summary = match biggest {
        Some((factor, contribution)) => format!(
            "<p>{} <strong>{}</strong> ({}{})</p>",
            page.t("overview.main_driver"),
            escape(&lang.term("kpi", factor)),
            if contribution > 0.0 { "+" } else { "" },
            escape(&lang.money(contribution))
        ),
        None => String::new(),
    };
    let drivers = page.section(
        "drivers",
        page.t("overview.drivers"),
        format!(
            "<p>{}</p>{table}{summary}",
            page.t("overview.drivers_intro")
        ),
        &[("drivers", "factors")],
    );
    let main = format!(
        "<section aria-label=\"{}\" class=\"kpis\">{cards}</section>{kpi_csv}<div class=\"grid\">{revenue}{customers}</div>{drivers}",
        page.t("overview.kpis")
    );
    page.render(page.t("overview.title"), main, true)
}

/// Page 2: segments, demographics, new vs returning, cohorts, hours, purchasing power.
pub async fn customers(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(controls): Query<Controls>,
) -> Response {
    // Daily new/returning counts of one outlet are mostly under 10 customers: weeks (or
    // months for a year) keep them visible.
    let grain = match controls.range() {
        "7" => "grain=day",
        "365" => "grain=month",
        _ => "grain=week",
    };
    let paths = [
        ("/v1/metrics/customers/segments", ""),
        ("/v1/metrics/customers/demographics", ""),
        ("/v1/metrics/customers/new-returning", grain),
        ("/v1/metrics/customers/cohorts", ""),
        ("/v1/metrics/customers/heatmap", ""),
        ("/v1/metrics/customers/purchasing-power", ""),
    ];
    let (page, answers) = match load(&state, &headers, &uri, controls, &paths).await {
        Ok(loaded) => loaded,
        Err(response) => return response,
    };
    let [
        segments,
        demographics,
        new_returning,
        cohorts,
        heatmap,
        power,
    ] = <[Value; 6]>::try_from(answers).expect("one answer per path");
    let lang = page.lang;
    let segment_name = |v: &Value| lang.term("segment", text(v, "segment"));

    // Segments.
    let list = rows(&segments, "segments");
    let chart = charts::bars(
        page.t("customers.segments"),
        &list.iter().map(segment_name).collect::<Vec<_>>(),
        &list
            .iter()
            .map(|r| Fig::of(&r["revenue_share"]).value())
            .collect::<Vec<_>>(),
        None,
        &|v| lang.percent(v),
    );
    let table = page.table(
        page.t("customers.segments"),
        &[
            page.t("customers.segment"),
            page.t("common.customers"),
            page.t("customers.trend"),
            page.t("common.revenue"),
            page.t("common.share"),
            page.t("customers.average_ticket"),
        ],
        list.iter()
            .map(|r| {
                vec![
                    Cell::Text(segment_name(r)),
                    page.cell(&Fig::of(&r["customers"]), "count"),
                    page.cell(&Fig::of(&r["customers_change"]), "change"),
                    page.cell(&Fig::of(&r["revenue"]), "kopecks"),
                    page.cell(&Fig::of(&r["revenue_share"]), "ratio"),
                    page.cell(&Fig::of(&r["average_ticket"]), "kopecks"),
                ]
            })
            .collect(),
    );
    let scored = text(&segments, "scored_as_of");
    let scored = if scored.is_empty() {
        String::new()
    } else {
        format!(
            "<p class=\"period\">{} {}</p>",
            page.t("common.scored_as_of"),
            lang.date(scored)
        )
    };
    let segments_html = page.section(
        "segments",
        page.t("customers.segments"),
        format!("{chart}{table}{scored}"),
        &[("customers/segments", "segments")],
    );

    // Demographics: age band × gender.
    let cells = rows(&demographics, "age_gender");
    let mut bands: Vec<&str> = Vec::new();
    for c in cells {
        if !bands.contains(&text(c, "age_band")) {
            bands.push(text(c, "age_band"));
        }
    }
    let band_label = |b: &str| {
        if b == "under_18" {
            "<18".to_string()
        } else {
            b.to_string()
        }
    };
    let of = |band: &str, gender: &str| {
        cells
            .iter()
            .find(|c| text(c, "age_band") == band && text(c, "gender") == gender)
            .map(|c| Fig::of(&c["customers"]))
            .unwrap_or(Fig::Hidden("no_data".into()))
    };
    let chart = charts::heatmap(
        page.t("customers.demographics"),
        &bands.iter().map(|b| band_label(b)).collect::<Vec<_>>(),
        &[
            page.t("customers.women").into(),
            page.t("customers.men").into(),
        ],
        &bands
            .iter()
            .map(|b| vec![of(b, "F").value(), of(b, "M").value()])
            .collect::<Vec<_>>(),
    );
    let table = page.table(
        page.t("customers.demographics"),
        &[
            page.t("customers.age"),
            page.t("customers.women"),
            page.t("customers.men"),
        ],
        bands
            .iter()
            .map(|b| {
                vec![
                    Cell::Text(band_label(b)),
                    page.cell(&of(b, "F"), "count"),
                    page.cell(&of(b, "M"), "count"),
                ]
            })
            .collect(),
    );
    let regions = page.table(
        page.t("customers.regions"),
        &[
            page.t("customers.region"),
            page.t("common.customers"),
            page.t("common.share"),
            page.t("common.revenue"),
        ],
        rows(&demographics, "regions")
            .iter()
            .map(|r| {
                vec![
                    Cell::Text(text(r, "region").to_string()),
                    page.cell(&Fig::of(&r["customers"]), "count"),
                    page.cell(&Fig::of(&r["share"]), "ratio"),
                    page.cell(&Fig::of(&r["revenue"]), "kopecks"),
                ]
            })
            .collect(),
    );
    let demographics_html = page.section(
        "demographics",
        page.t("customers.demographics"),
        format!(
            "{chart}{table}<h3>{}</h3>{regions}",
            page.t("customers.regions")
        ),
        &[
            ("customers/demographics", "age_gender"),
            ("customers/demographics", "regions"),
        ],
    );

    // New and returning.
    let buckets = rows(&new_returning, "buckets");
    let chart = charts::line(
        page.t("customers.new_returning"),
        &buckets
            .iter()
            .map(|b| lang.short_date(text(b, "bucket")))
            .collect::<Vec<_>>(),
        &[
            Series {
                name: page.t("customers.returning").into(),
                values: buckets
                    .iter()
                    .map(|b| Fig::of(&b["returning_customers"]).value())
                    .collect(),
                colour: 0,
                faint: false,
            },
            Series {
                name: page.t("customers.new").into(),
                values: buckets
                    .iter()
                    .map(|b| Fig::of(&b["new_customers"]).value())
                    .collect(),
                colour: 2,
                faint: false,
            },
        ],
        &|v| lang.int(v.round() as i64),
    );
    if buckets
        .iter()
        .any(|b| Fig::of(&b["new_customers"]).value().is_none())
    {
        page.cell(&Fig::Hidden("fewer_than_10_customers".into()), "count");
    }
    let new_returning_html = page.section(
        "new-returning",
        page.t("customers.new_returning"),
        format!(
            "{chart}{}",
            legend(&[
                (page.t("customers.returning"), 0, false),
                (page.t("customers.new"), 2, false)
            ])
        ),
        &[("customers/new-returning", "buckets")],
    );

    // Cohorts: first-purchase month × months later.
    let cells = rows(&cohorts, "cells");
    let mut months: Vec<&str> = cells.iter().map(|c| text(c, "cohort")).collect();
    months.dedup();
    let width = cells
        .iter()
        .filter_map(|c| c["months_since"].as_u64())
        .max()
        .map_or(0, |m| m as usize + 1);
    let values = grid(
        cells,
        &months,
        &(0..width as u64).collect::<Vec<_>>(),
        |c| {
            (
                text(c, "cohort"),
                c["months_since"].as_u64().unwrap_or(u64::MAX),
            )
        },
        "retention",
    );
    if cells
        .iter()
        .any(|c| Fig::of(&c["retention"]).value().is_none())
    {
        page.cell(&Fig::Hidden("fewer_than_10_customers".into()), "count");
    }
    let chart = if months.is_empty() {
        page.notice("", page.t("common.none"))
    } else {
        charts::heatmap(
            page.t("customers.cohorts"),
            &months
                .iter()
                .map(|m| m.get(..7).unwrap_or(m).to_string())
                .collect::<Vec<_>>(),
            &(0..width).map(|k| k.to_string()).collect::<Vec<_>>(),
            &values,
        )
    };
    let cohorts_html = page.section(
        "cohorts",
        page.t("customers.cohorts"),
        format!(
            "{chart}<p class=\"period\">{} → {}</p>",
            page.t("customers.cohort"),
            page.t("customers.months_since")
        ),
        &[("customers/cohorts", "cells")],
    );

    // Hour × weekday.
    let cells = rows(&heatmap, "cells");
    let values = grid(
        cells,
        &(1..=7).collect::<Vec<u64>>(),
        &(0..24).collect::<Vec<u64>>(),
        |c| {
            (
                c["weekday"].as_u64().unwrap_or(0),
                c["hour"].as_u64().unwrap_or(99),
            )
        },
        "transactions",
    );
    if cells
        .iter()
        .any(|c| Fig::of(&c["transactions"]).value().is_none())
    {
        page.cell(&Fig::Hidden("fewer_than_10_customers".into()), "count");
    }
    let chart = charts::heatmap(
        page.t("customers.heatmap"),
        &(1..=7)
            .map(|d| lang.t(&format!("weekday.{d}")).to_string())
            .collect::<Vec<_>>(),
        &(0..24).map(|h| h.to_string()).collect::<Vec<_>>(),
        &values,
    );
    let heatmap_html = page.section(
        "heatmap",
        page.t("customers.heatmap"),
        chart,
        &[("customers/heatmap", "cells")],
    );

    // Purchasing power: segment × predicted spend band.
    let buckets = rows(&power, "buckets");
    let mut names: Vec<&str> = Vec::new();
    let mut ranges: Vec<(Option<f64>, Option<f64>)> = Vec::new();
    for b in buckets {
        if !names.contains(&text(b, "segment")) {
            names.push(text(b, "segment"));
        }
        let range = (b["spend_from"].as_f64(), b["spend_to"].as_f64());
        if !ranges.contains(&range) {
            ranges.push(range);
        }
    }
    // Short labels (the chart's title names the unit): "5k–10k", "5–10 тыс.".
    let short = |v: f64| lang.money_short(v).trim_end_matches("\u{a0}₽").to_string();
    let range_label = |r: &(Option<f64>, Option<f64>)| match r {
        (None, Some(to)) => format!("<{}", short(*to)),
        (Some(from), None) => format!("≥{}", short(*from)),
        (Some(from), Some(to)) => format!("{}–{}", short(*from), short(*to)),
        (None, None) => String::new(),
    };
    let values = grid(
        buckets,
        &names,
        &ranges,
        |b| {
            (
                text(b, "segment"),
                (b["spend_from"].as_f64(), b["spend_to"].as_f64()),
            )
        },
        "share",
    );
    let chart = if names.is_empty() {
        page.notice("", page.t("hidden.not_scored"))
    } else {
        charts::heatmap(
            page.t("customers.purchasing_power"),
            &names
                .iter()
                .map(|n| lang.term("segment", n))
                .collect::<Vec<_>>(),
            &ranges.iter().map(range_label).collect::<Vec<_>>(),
            &values,
        )
    };
    let table = page.table(
        page.t("customers.purchasing_power"),
        &[
            page.t("customers.segment"),
            page.t("common.customers"),
            page.t("customers.spend"),
        ],
        rows(&power, "segments")
            .iter()
            .map(|r| {
                vec![
                    Cell::Text(segment_name(r)),
                    page.cell(&Fig::of(&r["customers"]), "count"),
                    page.cell(&Fig::of(&r["mean_predicted"]), "kopecks"),
                ]
            })
            .collect(),
    );
    let power_html = page.section(
        "purchasing-power",
        page.t("customers.purchasing_power"),
        format!("{chart}{table}"),
        &[
            ("customers/purchasing-power", "buckets"),
            ("customers/purchasing-power", "segments"),
        ],
    );

    let main = format!(
        "{segments_html}<div class=\"grid\">{demographics_html}{new_returning_html}</div>\
         <div class=\"grid\">{cohorts_html}{heatmap_html}</div>{power_html}"
    );
    page.render(page.t("customers.title"), main, true)
}

/// Page 3: share of wallet, lift, propensity; partner suggestions.
pub async fn categories(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(controls): Query<Controls>,
) -> Response {
    let paths = [("/v1/metrics/categories", ""), ("/v1/metrics/partners", "")];
    let (page, answers) = match load(&state, &headers, &uri, controls, &paths).await {
        Ok(loaded) => loaded,
        Err(response) => return response,
    };
    let [categories, partners] = <[Value; 2]>::try_from(answers).expect("one answer per path");
    let lang = page.lang;
    let group = |v: &Value| lang.term("group", text(v, "category_group"));

    let list = rows(&categories, "categories");
    let chart = charts::bars(
        page.t("categories.share_of_wallet"),
        &list.iter().map(group).collect::<Vec<_>>(),
        &list
            .iter()
            .map(|r| Fig::of(&r["share_of_wallet"]).value())
            .collect::<Vec<_>>(),
        None,
        &|v| lang.percent(v),
    );
    let table = page.table(
        page.t("categories.wallet"),
        &[
            page.t("categories.category"),
            page.t("common.customers"),
            page.t("categories.spend"),
            page.t("categories.share_of_wallet"),
            page.t("categories.population"),
            page.t("categories.lift"),
            page.t("categories.propensity"),
        ],
        list.iter()
            .map(|r| {
                vec![
                    Cell::Text(group(r)),
                    page.cell(&Fig::of(&r["customers"]), "count"),
                    page.cell(&Fig::of(&r["spend"]), "kopecks"),
                    page.cell(&Fig::of(&r["share_of_wallet"]), "ratio"),
                    page.cell(&Fig::of(&r["population_share"]), "ratio"),
                    page.cell(&Fig::of(&r["lift"]), "decimal"),
                    page.cell(&Fig::of(&r["propensity"]), "ratio"),
                ]
            })
            .collect(),
    );
    let wallet = page.section(
        "wallet",
        page.t("categories.wallet"),
        format!("{chart}{table}"),
        &[("categories", "categories")],
    );
    let yes_no = |b: bool| {
        page.t(if b { "categories.yes" } else { "categories.no" })
            .to_string()
    };
    let table = page.table(
        page.t("categories.partners"),
        &[
            page.t("categories.category"),
            page.t("categories.city"),
            page.t("categories.lyra_client"),
            page.t("common.customers"),
            page.t("categories.overlap"),
        ],
        rows(&partners, "partners")
            .iter()
            .map(|r| {
                vec![
                    Cell::Text(group(r)),
                    Cell::Text(text(r, "city").to_string()),
                    Cell::Text(yes_no(r["lyra_client"].as_bool().unwrap_or(false))),
                    page.cell(&Fig::of(&r["customers"]), "count"),
                    page.cell(&Fig::of(&r["overlap"]), "ratio"),
                ]
            })
            .collect(),
    );
    let partners_html = page.section(
        "partners",
        page.t("categories.partners"),
        format!("<p>{}</p>{table}", page.t("categories.partners_intro")),
        &[("partners", "partners")],
    );
    page.render(
        page.t("categories.title"),
        format!("{wallet}{partners_html}"),
        true,
    )
}

/// Page 4: percentile ranks, market share over time, customer flows.
pub async fn competitors(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(controls): Query<Controls>,
) -> Response {
    let paths = [("/v1/metrics/competitors", "")];
    let (page, answers) = match load(&state, &headers, &uri, controls, &paths).await {
        Ok(loaded) => loaded,
        Err(response) => return response,
    };
    let [answer] = <[Value; 1]>::try_from(answers).expect("one answer per path");
    // Peer figures are about one outlet: with "all outlets" chosen, show the first one.
    if page.controls.merchant().is_none()
        && let Some((first, _)) = page.outlets.first()
    {
        let mut controls = page.controls.clone();
        controls.merchant = Some(first.to_string());
        let mut response = StatusCode::SEE_OTHER.into_response();
        if let Ok(location) = format!("/competitors?{}", controls.page_query()).parse() {
            response.headers_mut().insert(LOCATION, location);
        }
        return response;
    }
    let lang = page.lang;

    let group = &answer["peer_group"];
    let intro = if group.is_object() {
        format!(
            "<p>{}: <strong>{}</strong> {} {} — {} {}</p>",
            page.t("common.peer_group"),
            escape(&lang.term("group", text(group, "category_group"))),
            page.t("common.in"),
            escape(text(group, "city")),
            group["peers"].as_i64().unwrap_or(0),
            page.t("common.peers"),
        )
    } else {
        String::new()
    };
    let ranks = rows(&answer, "ranks");
    let chart = charts::bars(
        page.t("competitors.percentile"),
        &ranks
            .iter()
            .map(|r| lang.term("kpi", text(r, "kpi")))
            .collect::<Vec<_>>(),
        &ranks
            .iter()
            .map(|r| Fig::of(&r["percentile"]).value())
            .collect::<Vec<_>>(),
        Some(100.0),
        &|v| lang.dec(v, 0),
    );
    let table = page.table(
        page.t("competitors.ranks"),
        &[
            page.t("overview.kpis"),
            page.t("common.value"),
            page.t("common.peer_median"),
            page.t("competitors.percentile"),
        ],
        ranks
            .iter()
            .map(|r| {
                let unit = text(r, "unit");
                vec![
                    Cell::Text(lang.term("kpi", text(r, "kpi"))),
                    page.cell(&Fig::of(&r["value"]), unit),
                    page.cell(&Fig::of(&r["peer_median"]), unit),
                    page.cell(&Fig::of(&r["percentile"]), "percentile"),
                ]
            })
            .collect(),
    );
    let ranks_html = page.section(
        "ranks",
        page.t("competitors.ranks"),
        format!(
            "{intro}<p>{}</p>{chart}{table}",
            page.t("competitors.rules")
        ),
        &[("competitors", "ranks")],
    );

    let share = rows(&answer, "market_share");
    let chart = charts::line(
        page.t("competitors.market_share"),
        &share
            .iter()
            .map(|w| lang.short_date(text(w, "week")))
            .collect::<Vec<_>>(),
        &[Series {
            name: page.t("competitors.market_share").into(),
            values: share
                .iter()
                .map(|w| Fig::of(&w["market_share"]).value())
                .collect(),
            colour: 0,
            faint: false,
        }],
        &|v| lang.percent(v),
    );
    let table = page.table(
        page.t("competitors.market_share"),
        &[
            page.t("competitors.week"),
            page.t("common.revenue"),
            page.t("common.share"),
        ],
        share
            .iter()
            .map(|w| {
                vec![
                    Cell::Text(lang.date(text(w, "week"))),
                    page.cell(&Fig::of(&w["revenue"]), "kopecks"),
                    page.cell(&Fig::of(&w["market_share"]), "ratio"),
                ]
            })
            .collect(),
    );
    let body = if share.is_empty() {
        let reason = ranks
            .first()
            .map(|r| Fig::of(&r["peer_median"]))
            .unwrap_or(Fig::Hidden("no_data".into()));
        format!("<p>{}</p>", page.fig(&reason, "count"))
    } else {
        format!("{chart}{table}")
    };
    let share_html = page.section(
        "market-share",
        page.t("competitors.market_share"),
        body,
        &[("competitors", "market_share")],
    );

    let table = page.table(
        page.t("competitors.flows"),
        &[
            page.t("competitors.flow"),
            page.t("competitors.base"),
            page.t("common.customers"),
            page.t("common.share"),
        ],
        rows(&answer, "flows")
            .iter()
            .map(|f| {
                vec![
                    Cell::Text(lang.term("flow", text(f, "flow"))),
                    page.cell(&Fig::of(&f["base"]), "count"),
                    page.cell(&Fig::of(&f["customers"]), "count"),
                    page.cell(&Fig::of(&f["share"]), "ratio"),
                ]
            })
            .collect(),
    );
    let flows_html = page.section(
        "flows",
        page.t("competitors.flows"),
        table,
        &[("competitors", "flows")],
    );
    page.render(
        page.t("competitors.title"),
        format!("{ranks_html}<div class=\"grid\">{share_html}{flows_html}</div>"),
        true,
    )
}

/// Page 5: weekly demand per outlet and category with its interval; past accuracy.
pub async fn forecast(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(controls): Query<Controls>,
) -> Response {
    let paths = [("/v1/metrics/forecast", "")];
    let (page, answers) = match load(&state, &headers, &uri, controls, &paths).await {
        Ok(loaded) => loaded,
        Err(response) => return response,
    };
    let [answer] = <[Value; 1]>::try_from(answers).expect("one answer per path");
    let lang = page.lang;

    let weeks = rows(&answer, "weeks");
    let mut keys: Vec<(i64, &str)> = Vec::new();
    for w in weeks {
        let key = (
            w["merchant_id"].as_i64().unwrap_or(0),
            text(w, "category_group"),
        );
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let outlet_name = |id: i64| {
        page.outlets
            .iter()
            .find(|(o, _)| *o == id)
            .map(|(_, label)| label.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let mut sections = String::new();
    if keys.is_empty() {
        sections.push_str(&page.notice("", page.t("forecast.none")));
    } else {
        sections.push_str(&format!(
            "<p class=\"period\">{} {} · {} {}</p>",
            page.t("forecast.origin"),
            lang.date(text(&answer, "origin_week")),
            page.t("forecast.model"),
            answer["model_version"].as_i64().unwrap_or(0)
        ));
    }
    for (merchant, group) in &keys {
        let rows: Vec<&Value> = weeks
            .iter()
            .filter(|w| {
                w["merchant_id"].as_i64() == Some(*merchant) && text(w, "category_group") == *group
            })
            .collect();
        let get = |key: &str| {
            rows.iter()
                .map(|w| w[key].as_f64().unwrap_or(0.0))
                .collect::<Vec<_>>()
        };
        let title = format!("{} — {}", outlet_name(*merchant), lang.term("group", group));
        let chart = charts::band(
            &format!("{} — {title}", page.t("forecast.weekly")),
            &rows
                .iter()
                .map(|w| lang.short_date(text(w, "week")))
                .collect::<Vec<_>>(),
            &get("revenue_p10"),
            &get("revenue_p50"),
            &get("revenue_p90"),
            &|v| lang.money_short(v),
        );
        let table = page.table(
            &title,
            &[
                page.t("forecast.week"),
                page.t("forecast.revenue_p10"),
                page.t("forecast.median"),
                page.t("forecast.revenue_p90"),
                page.t("series.transactions"),
                page.t("forecast.stock"),
            ],
            rows.iter()
                .map(|w| {
                    vec![
                        Cell::Text(lang.date(text(w, "week"))),
                        page.cell(&Fig::of(&w["revenue_p10"]), "kopecks"),
                        page.cell(&Fig::of(&w["revenue_p50"]), "kopecks"),
                        page.cell(&Fig::of(&w["revenue_p90"]), "kopecks"),
                        page.cell(&Fig::of(&w["transactions_p50"]), "decimal"),
                        page.cell(&Fig::of(&w["suggested_stock"]), "count"),
                    ]
                })
                .collect(),
        );
        sections.push_str(&page.section(
            &format!("forecast-{merchant}-{group}"),
            &title,
            format!(
                "{chart}{}{table}",
                legend(&[
                    (page.t("forecast.median"), 0, false),
                    (page.t("forecast.interval"), 0, true)
                ])
            ),
            &[("forecast", "weeks")],
        ));
    }
    let table = page.table(
        page.t("forecast.accuracy"),
        &[
            page.t("forecast.horizon"),
            page.t("forecast.weeks"),
            "WAPE",
            page.t("forecast.coverage"),
        ],
        rows(&answer, "accuracy")
            .iter()
            .map(|a| {
                vec![
                    Cell::Text(
                        a["horizon"]
                            .as_i64()
                            .map_or_else(|| page.t("forecast.all").to_string(), |h| h.to_string()),
                    ),
                    Cell::Text(lang.int(a["weeks"].as_i64().unwrap_or(0))),
                    page.cell(&Fig::of(&a["wape"]), "ratio"),
                    page.cell(&Fig::of(&a["coverage"]), "ratio"),
                ]
            })
            .collect(),
    );
    let accuracy = page.section(
        "accuracy",
        page.t("forecast.accuracy"),
        format!("<p>{}</p>{table}", page.t("forecast.accuracy_intro")),
        &[("forecast", "accuracy")],
    );
    page.render(
        page.t("forecast.title"),
        format!("{sections}{accuracy}"),
        true,
    )
}
