//! The OpenAPI 3.1 description of the service, generated from the route table and the
//! answer types (their schemas are derived with `utoipa` from the same structs the handlers
//! serialize), so the description cannot drift from the code.

use std::sync::OnceLock;

use axum::Json;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::schema::{ObjectBuilder, Ref, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder,
    Required, ResponseBuilder, ResponsesBuilder, SecurityRequirement,
};

use crate::{Access, route_specs};

fn string_param(
    name: &str,
    description: &str,
    values: Option<&[&str]>,
    format: Option<&str>,
) -> utoipa::openapi::path::Parameter {
    let mut schema = ObjectBuilder::new().schema_type(Type::String);
    if let Some(values) = values {
        schema = schema.enum_values(Some(values.iter().copied()));
    }
    if let Some(format) = format {
        schema = schema.format(Some(utoipa::openapi::schema::SchemaFormat::Custom(
            format.into(),
        )));
    }
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    let schema = ObjectBuilder::new()
        .property("error", ObjectBuilder::new().schema_type(Type::String))
        .required("error");
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(schema)).build(),
        )
        .build()
}

/// Builds the document.
pub fn document() -> OpenApi {
    let mut schemas = Vec::new();
    let mut paths = PathsBuilder::new();
    for spec in route_specs() {
        if spec.access == Access::Public {
            let ok = ResponseBuilder::new()
                .description("This document")
                .content("application/json", ContentBuilder::new().build())
                .build();
            let operation = OperationBuilder::new()
                .summary(Some(spec.summary))
                .operation_id(Some("openapi"))
                .responses(ResponsesBuilder::new().response("200", ok).build())
                .build();
            paths = paths.path(spec.path, PathItem::new(HttpMethod::Get, operation));
            continue;
        }
        let name = (spec.schema)(&mut schemas);
        let mut parameters = vec![
            string_param(
                "merchant",
                "One of the organisation's outlets (merchant id); omitted: all of them",
                None,
                Some("int64"),
            ),
            string_param(
                "from",
                "First day (YYYY-MM-DD, Moscow); default: 29 days before `to`",
                None,
                Some("date"),
            ),
            string_param(
                "to",
                "Last day (YYYY-MM-DD, Moscow); default: the outlets' last day with sales",
                None,
                Some("date"),
            ),
            string_param(
                "compare",
                "Comparison period: the same number of days before (default) or a year earlier",
                Some(&["previous", "last_year"]),
                None,
            ),
            string_param(
                "format",
                "json (default) or csv (also `Accept: text/csv`)",
                Some(&["json", "csv"]),
                None,
            ),
            string_param(
                "table",
                "Which table a CSV holds (default: the first)",
                Some(spec.tables),
                None,
            ),
        ];
        if spec.grain {
            parameters.push(string_param(
                "grain",
                "Step; default: day up to 62 days, week up to 366, month beyond",
                Some(&["day", "week", "month"]),
                None,
            ));
        }
        let ok = ResponseBuilder::new()
            .description(format!(
                "The figures; as CSV, one of the tables: {}",
                spec.tables.join(", ")
            ))
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(name)))
                    .build(),
            )
            .content(
                "text/csv",
                ContentBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .build(),
            )
            .build();
        let responses = ResponsesBuilder::new()
            .response("200", ok)
            .response(
                "400",
                error_response("A parameter is malformed or out of range"),
            )
            .response("401", error_response("No valid access token"))
            .response(
                "403",
                error_response(
                    "Not a person of an organisation, nor an API token with metrics:read",
                ),
            )
            .response(
                "404",
                error_response(
                    "No such outlet in the organisation (also for another organisation's)",
                ),
            )
            .build();
        let operation = OperationBuilder::new()
            .summary(Some(spec.summary))
            .operation_id(Some(
                spec.path
                    .trim_start_matches("/v1/metrics/")
                    .replace(['/', '-'], "_"),
            ))
            .parameters(Some(parameters))
            .responses(responses)
            .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
            .request_body(None::<RequestBody>)
            .build();
        paths = paths.path(spec.path, PathItem::new(HttpMethod::Get, operation));
    }
    let mut components = ComponentsBuilder::new().security_scheme(
        "bearer",
        SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    for (name, schema) in schemas {
        components = components.schema(name, schema);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Lyra metrics API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Figures of the token's organisation. Money is integer kopecks, ratios are \
                     fractions; a withheld figure is {\"value\": null, \"hidden\": reason}.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .build()
}

/// `GET /v1/metrics/openapi.json`.
pub async fn serve() -> Json<&'static OpenApi> {
    static DOCUMENT: OnceLock<OpenApi> = OnceLock::new();
    Json(DOCUMENT.get_or_init(document))
}
