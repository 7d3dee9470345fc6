//! Answers as JSON or as CSV: every answer type names its tables (its lists of rows), and a
//! CSV download holds one of them (`table=`, by default the first), written by the shared
//! writer of `lyra_common::csv`.

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use lyra_common::csv::{CsvError, Table};
use serde::Serialize;

use crate::error::MetricsError;
use crate::params::{Format, Params};

/// An answer with tables that can be downloaded as CSV.
pub trait Tables: Serialize {
    /// The tables' names, in order; the first is the default download.
    const NAMES: &'static [&'static str];
    /// The table called `name`.
    fn table(&self, name: &str) -> Option<Result<Table, CsvError>>;
}

/// Implements [`Tables`] for an answer from the names of its `Vec` fields.
macro_rules! tables {
    ($ty:ty { $($field:ident),+ $(,)? }) => {
        impl $crate::reply::Tables for $ty {
            const NAMES: &'static [&'static str] = &[$(stringify!($field)),+];
            fn table(&self, name: &str) -> Option<Result<lyra_common::csv::Table, lyra_common::csv::CsvError>> {
                match name {
                    $(stringify!($field) => Some(lyra_common::csv::Table::from_rows(&self.$field)),)+
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use tables;

/// `body` in the format `params` asked for; `endpoint` names the downloaded file.
pub fn reply<T: Tables>(
    endpoint: &str,
    params: &Params,
    body: T,
) -> Result<Response, MetricsError> {
    match params.format {
        Format::Json => Ok(Json(body).into_response()),
        Format::Csv => {
            let name = params.table.as_deref().unwrap_or(T::NAMES[0]);
            let table = body.table(name).ok_or_else(|| {
                MetricsError::BadRequest(format!(
                    "table: {name:?} is not one of {}",
                    T::NAMES.join(", ")
                ))
            })?;
            let csv = table
                .map_err(|e| MetricsError::Internal(e.into()))?
                .to_csv();
            let disposition = format!("attachment; filename=\"lyra-{endpoint}-{name}.csv\"");
            Ok((
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/csv; charset=utf-8"),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        HeaderValue::from_str(&disposition)
                            .map_err(|e| MetricsError::Internal(e.into()))?,
                    ),
                ],
                csv,
            )
                .into_response())
        }
    }
}
