//! A service's OpenAPI 3.0 document, built from `openapiv3` types so it is well-formed by
//! construction, then serialised by serde_yaml (IndexMaps keep insertion order, which
//! follows the model's sorted order, so the bytes are stable).

use super::api::{DEFAULT_LIMIT, Field, MAX_LIMIT, Resource, ServiceApi};
use crate::model::NeutralType;
use indexmap::IndexMap;
use openapiv3::{
    AdditionalProperties, AnySchema, ArrayType, BooleanType, Components, Info, IntegerFormat,
    IntegerType, MediaType, NumberFormat, NumberType, ObjectType, OpenAPI, Operation, Parameter,
    ParameterData, ParameterSchemaOrContent, PathItem, PathStyle, Paths, QueryStyle, ReferenceOr,
    RequestBody, Response, Responses, Schema, SchemaData, SchemaKind, StatusCode, StringFormat,
    StringType, Type, VariantOrUnknownOrEmpty,
};

pub const PROBLEM_JSON: &str = "application/problem+json";

fn schema(kind: Type) -> Schema {
    Schema {
        schema_data: SchemaData::default(),
        schema_kind: SchemaKind::Type(kind),
    }
}

fn string(format: Option<StringFormat>, pattern: Option<String>, max: Option<usize>) -> Schema {
    schema(Type::String(StringType {
        format: format.map_or(
            VariantOrUnknownOrEmpty::Empty,
            VariantOrUnknownOrEmpty::Item,
        ),
        pattern,
        max_length: max,
        ..StringType::default()
    }))
}

fn unknown_format(name: &str) -> Schema {
    schema(Type::String(StringType {
        format: VariantOrUnknownOrEmpty::Unknown(name.to_string()),
        ..StringType::default()
    }))
}

fn reference(name: &str) -> ReferenceOr<Schema> {
    ReferenceOr::Reference {
        reference: format!("#/components/schemas/{name}"),
    }
}

fn boxed_ref(name: &str) -> ReferenceOr<Box<Schema>> {
    ReferenceOr::Reference {
        reference: format!("#/components/schemas/{name}"),
    }
}

/// Regular expression for a decimal's text form with `precision` digits, `scale` after
/// the point (rust_decimal holds at most 28).
pub fn decimal_pattern(precision: Option<u32>, scale: Option<u32>) -> String {
    let p = precision.unwrap_or(28).min(28);
    let s = scale
        .unwrap_or(if precision.is_some() { 0 } else { 10 })
        .min(p);
    let int = (p - s).max(1);
    if s == 0 {
        format!("^-?[0-9]{{1,{int}}}$")
    } else {
        format!("^-?[0-9]{{1,{int}}}(\\.[0-9]{{1,{s}}})?$")
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fffffffff]`, the form chrono writes; an impossible date that
/// matches (February 30) is refused with a 400 like any other invalid value.
pub const TIMESTAMP_PATTERN: &str = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?$";
pub const TIME_PATTERN: &str = "^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?$";

/// The JSON schema of one value of neutral type `ty` (without nullability).
pub fn value_schema(field: &Field) -> Schema {
    let mut s = match &field.ty {
        NeutralType::Bool => schema(Type::Boolean(BooleanType::default())),
        NeutralType::Int { bits, unsigned } => {
            let (mut min, mut max) = int_range(*bits, *unsigned);
            if field.is_mysql_year() {
                (min, max) = (1901, Some(2155));
            }
            schema(Type::Integer(IntegerType {
                format: VariantOrUnknownOrEmpty::Item(
                    if *bits > 32 || (*unsigned && *bits == 32) {
                        IntegerFormat::Int64
                    } else {
                        IntegerFormat::Int32
                    },
                ),
                minimum: Some(min),
                maximum: max,
                ..IntegerType::default()
            }))
        }
        NeutralType::Decimal { precision, scale } => {
            let mut s = string(None, Some(decimal_pattern(*precision, *scale)), None);
            s.schema_data.description = Some(format!("decimal as text ({})", field.ty));
            s
        }
        NeutralType::Float { bits } => schema(Type::Number(NumberType {
            format: VariantOrUnknownOrEmpty::Item(if *bits == 32 {
                NumberFormat::Float
            } else {
                NumberFormat::Double
            }),
            // f32 cannot hold larger values; a client must not be told it can.
            minimum: (*bits == 32).then_some(-3.0e38),
            maximum: (*bits == 32).then_some(3.0e38),
            ..NumberType::default()
        })),
        NeutralType::Char { length } | NeutralType::Varchar { length } => {
            string(None, None, length.map(|l| l as usize))
        }
        NeutralType::Text => string(None, None, None),
        NeutralType::Binary { length, .. } => {
            let mut s = string(Some(StringFormat::Byte), None, None);
            if let Some(l) = length {
                s.schema_data.description = Some(format!("base64, at most {l} bytes"));
            }
            s
        }
        NeutralType::Date => string(Some(StringFormat::Date), None, None),
        NeutralType::Time { .. } => string(None, Some(TIME_PATTERN.to_string()), None),
        NeutralType::Timestamp { .. } => {
            let mut s = string(None, Some(TIMESTAMP_PATTERN.to_string()), None);
            s.schema_data.description = Some("date and time without a zone".to_string());
            s
        }
        NeutralType::TimestampTz { .. } => string(Some(StringFormat::DateTime), None, None),
        NeutralType::Uuid => unknown_format("uuid"),
        NeutralType::Json => Schema {
            schema_data: SchemaData::default(),
            schema_kind: SchemaKind::Any(AnySchema::default()),
        },
        NeutralType::Enum { .. } => schema(Type::String(StringType {
            enumeration: field.labels.iter().cloned().map(Some).collect(),
            ..StringType::default()
        })),
        NeutralType::Other { native }
            if crate::engine::traits(field.dialect).service_other_as_bytes =>
        {
            let mut s = string(Some(StringFormat::Byte), None, None);
            s.schema_data.description = Some(format!(
                "`{native}` as base64 of the server's internal binary form (for spatial \
                 types: a 4-byte SRID, then WKB)"
            ));
            s
        }
        other => {
            let mut s = string(None, None, None);
            s.schema_data.description = Some(format!("`{other}` in the database's text form"));
            s
        }
    };
    if let Some(c) = &field.comment {
        s.schema_data.description = Some(match s.schema_data.description.take() {
            Some(d) => format!("{c} ({d})"),
            None => c.clone(),
        });
    }
    if let Some(r) = &field.references {
        let note = format!("id of {r}");
        s.schema_data.description = Some(match s.schema_data.description.take() {
            Some(d) => format!("{d}; {note}"),
            None => note,
        });
    }
    s
}

/// Inclusive range of an integer column; `None` maximum for u64 (beyond JSON's int64).
pub fn int_range(bits: u8, unsigned: bool) -> (i64, Option<i64>) {
    if unsigned {
        (0, (bits < 64).then(|| (1i64 << bits) - 1))
    } else if bits >= 64 {
        (i64::MIN, Some(i64::MAX))
    } else {
        (-(1i64 << (bits - 1)), Some((1i64 << (bits - 1)) - 1))
    }
}

fn nullable(mut s: Schema, yes: bool) -> Schema {
    s.schema_data.nullable = yes;
    s
}

fn object<'a>(
    fields: impl Iterator<Item = &'a Field>,
    required: impl Fn(&Field) -> bool,
    closed: bool,
) -> Schema {
    let mut properties = IndexMap::new();
    let mut req = Vec::new();
    for f in fields {
        properties.insert(
            f.json.clone(),
            ReferenceOr::Item(Box::new(nullable(value_schema(f), f.nullable))),
        );
        if required(f) {
            req.push(f.json.clone());
        }
    }
    schema(Type::Object(ObjectType {
        properties,
        required: req,
        additional_properties: closed.then_some(AdditionalProperties::Any(false)),
        ..ObjectType::default()
    }))
}

fn json_content(s: ReferenceOr<Schema>, media: &str) -> IndexMap<String, MediaType> {
    let mut c = IndexMap::new();
    c.insert(
        media.to_string(),
        MediaType {
            schema: Some(s),
            ..MediaType::default()
        },
    );
    c
}

fn response(description: &str, body: Option<(&str, &str)>) -> ReferenceOr<Response> {
    ReferenceOr::Item(Response {
        description: description.to_string(),
        content: body.map_or_else(IndexMap::new, |(schema, media)| {
            json_content(reference(schema), media)
        }),
        ..Response::default()
    })
}

fn responses(ok: (u16, &str, Option<&str>), problems: &[(u16, &str)]) -> Responses {
    let mut r = IndexMap::new();
    r.insert(
        StatusCode::Code(ok.0),
        response(ok.1, ok.2.map(|s| (s, "application/json"))),
    );
    for (code, why) in problems {
        r.insert(
            StatusCode::Code(*code),
            response(why, Some(("Problem", PROBLEM_JSON))),
        );
    }
    Responses {
        responses: r,
        ..Responses::default()
    }
}

fn query(name: &str, description: &str, s: Schema) -> ReferenceOr<Parameter> {
    ReferenceOr::Item(Parameter::Query {
        parameter_data: ParameterData {
            name: name.to_string(),
            description: Some(description.to_string()),
            required: false,
            deprecated: None,
            format: ParameterSchemaOrContent::Schema(ReferenceOr::Item(s)),
            example: None,
            examples: IndexMap::new(),
            explode: None,
            extensions: IndexMap::new(),
        },
        allow_reserved: false,
        style: QueryStyle::Form,
        allow_empty_value: None,
    })
}

fn path_param(f: &Field) -> ReferenceOr<Parameter> {
    ReferenceOr::Item(Parameter::Path {
        parameter_data: ParameterData {
            name: f.json.clone(),
            description: Some(format!("primary key column `{}`", f.column)),
            required: true,
            deprecated: None,
            format: ParameterSchemaOrContent::Schema(ReferenceOr::Item(value_schema(f))),
            example: None,
            examples: IndexMap::new(),
            explode: None,
            extensions: IndexMap::new(),
        },
        style: PathStyle::Simple,
    })
}

fn body(schema_name: &str) -> ReferenceOr<RequestBody> {
    ReferenceOr::Item(RequestBody {
        content: json_content(reference(schema_name), "application/json"),
        required: true,
        ..RequestBody::default()
    })
}

fn op(id: String, summary: String, tag: &str) -> Operation {
    Operation {
        operation_id: Some(id),
        summary: Some(summary),
        tags: vec![tag.to_string()],
        ..Operation::default()
    }
}

/// The sort values a list accepts: `field` ascending, `-field` descending.
pub fn sort_values(r: &Resource) -> Vec<String> {
    let mut out = Vec::new();
    for f in r.fields.iter().filter(|f| f.sortable()) {
        out.push(f.json.clone());
        out.push(format!("-{}", f.json));
    }
    out
}

fn list_operation(r: &Resource) -> Operation {
    let mut o = op(
        format!("list_{}", r.name),
        format!("List {} rows, a page at a time", r.table),
        &r.name,
    );
    o.description = Some(if r.read_only() {
        format!(
            "Table `{}` has no primary key, so this resource is read-only and its cursor is a position (rows added meanwhile may shift pages).",
            r.table
        )
    } else {
        "Keyset pagination: pass `next_cursor` of a page as `cursor` to get the next one; the cursor is only valid with the same `sort`.".to_string()
    });
    let mut params = vec![
        query(
            "limit",
            &format!("rows per page, at most {MAX_LIMIT}"),
            schema(Type::Integer(IntegerType {
                format: VariantOrUnknownOrEmpty::Item(IntegerFormat::Int32),
                minimum: Some(1),
                maximum: Some(i64::from(MAX_LIMIT)),
                ..IntegerType::default()
            })),
        ),
        query(
            "cursor",
            "opaque position returned as `next_cursor` by the previous page",
            string(None, None, None),
        ),
    ];
    let sorts = sort_values(r);
    if !r.read_only() && !sorts.is_empty() {
        params.push(query(
            "sort",
            "sort key: a field name, `-` first for descending; ties are broken by the primary key",
            schema(Type::String(StringType {
                enumeration: sorts.into_iter().map(Some).collect(),
                ..StringType::default()
            })),
        ));
    }
    for f in r.fields.iter().filter(|f| f.filterable()) {
        params.push(query(&f.json, "equal to", value_schema(f)));
        if f.orderable() {
            params.push(query(
                &format!("{}.gte", f.json),
                "greater than or equal to",
                value_schema(f),
            ));
            params.push(query(
                &format!("{}.lte", f.json),
                "less than or equal to",
                value_schema(f),
            ));
        }
    }
    o.parameters = params;
    o.responses = responses(
        (200, "a page of rows", Some(&format!("{}Page", r.type_name))),
        &[(400, "invalid query parameter, cursor or limit")],
    );
    o
}

/// Builds the document of one service.
pub fn document(api: &ServiceApi) -> OpenAPI {
    let mut paths = IndexMap::new();
    let mut schemas = IndexMap::new();

    let mut health = op(
        "health".to_string(),
        "Liveness and database reachability".to_string(),
        "health",
    );
    health.responses = responses(
        (200, "the service and its database answer", Some("Health")),
        &[(503, "the database does not answer")],
    );
    paths.insert(
        "/health".to_string(),
        ReferenceOr::Item(PathItem {
            get: Some(health),
            ..PathItem::default()
        }),
    );

    for r in &api.resources {
        let t = &r.type_name;
        schemas.insert(
            t.clone(),
            ReferenceOr::Item(object(r.fields.iter(), |_| true, false)),
        );
        let mut page = object(std::iter::empty(), |_| true, false);
        if let SchemaKind::Type(Type::Object(o)) = &mut page.schema_kind {
            o.properties.insert(
                "items".to_string(),
                ReferenceOr::Item(Box::new(schema(Type::Array(ArrayType {
                    items: Some(boxed_ref(t)),
                    min_items: None,
                    max_items: None,
                    unique_items: false,
                })))),
            );
            o.properties.insert(
                "next_cursor".to_string(),
                ReferenceOr::Item(Box::new(nullable(string(None, None, None), true))),
            );
            o.required = vec!["items".to_string(), "next_cursor".to_string()];
        }
        schemas.insert(format!("{t}Page"), ReferenceOr::Item(page));

        let collection = format!("/{}", r.name);
        let mut item = PathItem {
            get: Some(list_operation(r)),
            ..PathItem::default()
        };
        if !r.read_only() {
            schemas.insert(
                format!("{t}Create"),
                ReferenceOr::Item(object(r.writable(), |f| !f.optional_on_create, true)),
            );
            schemas.insert(
                format!("{t}Update"),
                ReferenceOr::Item(object(
                    r.writable().filter(|f| !f.in_key),
                    |f| !f.nullable,
                    true,
                )),
            );
            schemas.insert(
                format!("{t}Patch"),
                ReferenceOr::Item(object(r.writable().filter(|f| !f.in_key), |_| false, true)),
            );
            let mut create = op(
                format!("create_{}", r.name),
                format!("Insert a {} row", r.table),
                &r.name,
            );
            create.request_body = Some(body(&format!("{t}Create")));
            create.responses = responses(
                (201, "the row as stored", Some(t)),
                &[
                    (400, "invalid body or value"),
                    (
                        409,
                        "conflicts with an existing row or a missing referenced row",
                    ),
                ],
            );
            item.post = Some(create);
        }
        paths.insert(collection.clone(), ReferenceOr::Item(item));

        if r.read_only() {
            continue;
        }
        let key_path = r
            .key_fields()
            .map(|f| format!("{{{}}}", f.json))
            .collect::<Vec<_>>()
            .join("/");
        let params: Vec<_> = r.key_fields().map(path_param).collect();
        let mut get = op(
            format!("get_{}", r.name),
            format!("Fetch a {} row by primary key", r.table),
            &r.name,
        );
        get.responses = responses(
            (200, "the row", Some(t)),
            &[(400, "invalid key"), (404, "no such row")],
        );
        let mut put = op(
            format!("update_{}", r.name),
            format!("Replace every column of a {} row", r.table),
            &r.name,
        );
        put.request_body = Some(body(&format!("{t}Update")));
        put.responses = responses(
            (200, "the row as stored", Some(t)),
            &[
                (400, "invalid key, body or value"),
                (404, "no such row"),
                (
                    409,
                    "conflicts with an existing row or a missing referenced row",
                ),
            ],
        );
        let mut patch = op(
            format!("patch_{}", r.name),
            format!("Change some columns of a {} row", r.table),
            &r.name,
        );
        patch.request_body = Some(body(&format!("{t}Patch")));
        patch.responses = put.responses.clone();
        let mut delete = op(
            format!("delete_{}", r.name),
            format!("Delete a {} row", r.table),
            &r.name,
        );
        delete.responses = responses(
            (204, "deleted", None),
            &[
                (400, "invalid key"),
                (404, "no such row"),
                (409, "other rows still reference it"),
            ],
        );
        paths.insert(
            format!("{collection}/{key_path}"),
            ReferenceOr::Item(PathItem {
                get: Some(get),
                put: Some(put),
                patch: Some(patch),
                delete: Some(delete),
                parameters: params,
                ..PathItem::default()
            }),
        );
    }

    let mut problem = object(std::iter::empty(), |_| true, false);
    if let SchemaKind::Type(Type::Object(o)) = &mut problem.schema_kind {
        for (name, s) in [
            ("type", string(None, None, None)),
            ("title", string(None, None, None)),
            (
                "status",
                schema(Type::Integer(IntegerType {
                    format: VariantOrUnknownOrEmpty::Item(IntegerFormat::Int32),
                    ..IntegerType::default()
                })),
            ),
            ("detail", string(None, None, None)),
        ] {
            o.properties
                .insert(name.to_string(), ReferenceOr::Item(Box::new(s)));
        }
        o.required = vec!["type".into(), "title".into(), "status".into()];
    }
    problem.schema_data.description = Some("RFC 9457 problem details".to_string());
    schemas.insert("Problem".to_string(), ReferenceOr::Item(problem));
    let mut health_schema = object(std::iter::empty(), |_| true, false);
    if let SchemaKind::Type(Type::Object(o)) = &mut health_schema.schema_kind {
        o.properties.insert(
            "status".to_string(),
            ReferenceOr::Item(Box::new(string(None, None, None))),
        );
        o.required = vec!["status".into()];
    }
    schemas.insert("Health".to_string(), ReferenceOr::Item(health_schema));

    let notes: Vec<String> = api
        .resources
        .iter()
        .flat_map(|r| r.notes.iter().cloned())
        .collect();
    let mut description = format!(
        "REST service `{}` generated by seaway from the {} source model. References to tables of other services are plain id fields. Lists default to {DEFAULT_LIMIT} rows.",
        api.name, api.dialect
    );
    for n in notes {
        description.push_str("\n\n- ");
        description.push_str(&n);
    }
    OpenAPI {
        openapi: "3.0.3".to_string(),
        info: Info {
            title: format!("{} service", api.name),
            description: Some(description),
            version: "1.0.0".to_string(),
            ..Info::default()
        },
        paths: Paths {
            paths,
            ..Paths::default()
        },
        components: Some(Components {
            schemas,
            ..Components::default()
        }),
        ..OpenAPI::default()
    }
}
