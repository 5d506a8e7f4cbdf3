//! The OpenAPI document as served: what utoipa generates from the
//! handlers, completed with what holds for whole classes of routes and is
//! easy to forget on one of them (found by running `schemathesis` on it):
//! every authenticated route may answer 401; every route with input may
//! answer 400 (a malformed path, query or body), and a JSON body also 413
//! and 415; every project route may answer 403 and 404. Path parameters
//! get the patterns the API enforces (slug, key, email).

use serde_json::{Value, json};
use utoipa::openapi::OpenApi;

/// A slug: 1–63 of a-z, 0-9, `-`, starting with a letter, not ending with `-`.
pub const SLUG_PATTERN: &str = "^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$";
/// A key: 1–128 of A-Z, 0-9, `_`, not starting with a digit (some names
/// are reserved: see the 400 answer).
pub const KEY_PATTERN: &str = "^[A-Z_][A-Z0-9_]{0,127}$";

fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } }
    })
}

/// The document for clients: axum's `{*path}` written as OpenAPI's
/// `{path}`, and the completions above.
pub fn complete(doc: OpenApi) -> Value {
    let mut doc = serde_json::to_value(doc).unwrap_or_else(|_| json!({}));
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return doc;
    };
    let old = std::mem::take(paths);
    for (path, mut item) in old {
        let path = path.replace("{*", "{");
        if let Some(operations) = item.as_object_mut() {
            for operation in operations.values_mut() {
                complete_operation(&path, operation);
            }
        }
        paths.insert(path, item);
    }
    doc
}

fn complete_operation(path: &str, operation: &mut Value) {
    let mut has_input = false;
    if let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) {
        has_input = !parameters.is_empty();
        for parameter in parameters {
            complete_parameter(parameter);
        }
    }
    let json_body = operation.pointer("/requestBody/content/application~1json").is_some();
    let has_body = operation.get("requestBody").is_some();
    let authenticated = operation
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty());
    let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    let mut add = |status: &str, description: &str| {
        responses.entry(status.to_owned()).or_insert_with(|| error(description));
    };
    if has_input || has_body {
        add(
            "400",
            "invalid input: `error.code` names the rule (e.g. invalid_path, invalid_query, invalid_json)",
        );
    }
    if json_body {
        add("413", "body_too_large");
        add("415", "unsupported_media_type: send `Content-Type: application/json`");
    }
    if authenticated {
        add("401", "unauthenticated: no valid token or session");
    }
    if path.contains("{slug}") {
        add("403", "forbidden: the caller's role does not allow this");
        add(
            "404",
            "not_found: no such project (or not a member), or no such item in it",
        );
    }
    for answer in responses.values_mut() {
        // OpenAPI requires a description on every answer.
        if answer
            .get("description")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            answer["description"] = json!("success");
        }
    }
}

fn complete_parameter(parameter: &mut Value) {
    let name = parameter
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let in_path = parameter.get("in").and_then(Value::as_str) == Some("path");
    if !in_path {
        return;
    }
    let schema = match name.as_str() {
        "slug" => json!({ "type": "string", "pattern": SLUG_PATTERN, "minLength": 1, "maxLength": 63 }),
        "key" => json!({ "type": "string", "pattern": KEY_PATTERN, "minLength": 1, "maxLength": 128 }),
        "email" => json!({ "type": "string", "format": "email", "maxLength": 254 }),
        "path" => json!({ "type": "string", "minLength": 1 }),
        _ => return,
    };
    parameter["schema"] = schema;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patterns_agree_with_the_rules() {
        let slug = regex::Regex::new(SLUG_PATTERN).unwrap_or_else(|e| panic!("{e}"));
        for ok in ["a", "my-bot", "b2", &format!("a{}", "b".repeat(62))] {
            assert!(slug.is_match(ok) && crate::projects::check_slug(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "1a", "a_b", &format!("a{}", "b".repeat(63))] {
            assert!(
                !slug.is_match(bad) && crate::projects::check_slug(bad).is_err(),
                "{bad}"
            );
        }
        let key = regex::Regex::new(KEY_PATTERN).unwrap_or_else(|e| panic!("{e}"));
        for ok in ["API_KEY", "A1", "_X"] {
            assert!(key.is_match(ok), "{ok}");
        }
        for bad in ["", "1A", "api_key", "A-B", &"A".repeat(129)] {
            assert!(
                !key.is_match(bad) && crate::secrets::rules::check_key(bad).is_err(),
                "{bad}"
            );
        }
    }
}
