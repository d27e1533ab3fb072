//! What `Json`, `Path`, `Query`, `Valid`, `Page` and `Paginated` add to an operation of the
//! OpenAPI document.

use schemars::JsonSchema;
use serde_json::json;

use super::{Json, Page, Paginated, Path, Query, Valid};
use crate::config::OverMax;
use crate::openapi::{DescribeInput, DescribeOutput, Operation};

impl<T: JsonSchema> DescribeInput for Json<T> {
    fn describe(op: &mut Operation<'_>) {
        op.json_request_body::<T>();
    }
}

impl<T: JsonSchema> DescribeOutput for Json<T> {
    fn describe(op: &mut Operation<'_>) {
        op.json_response::<T>();
    }
}

impl<T: JsonSchema> DescribeInput for Path<T> {
    fn describe(op: &mut Operation<'_>) {
        op.path_parameters::<T>();
    }
}

impl<T: JsonSchema> DescribeInput for Query<T> {
    fn describe(op: &mut Operation<'_>) {
        op.query_parameters::<T>();
    }
}

impl<E: DescribeInput> DescribeInput for Valid<E> {
    fn describe(op: &mut Operation<'_>) {
        E::describe(op);
        op.problem(422, "A value breaks the rules its field states: every failing field is named in `errors`.");
    }
}

impl DescribeInput for Page {
    /// `limit` and `offset`, bounded as `[pagination]` says. `cursor` is documented by
    /// `Paginated`, the answer of a handler that can continue a page from one.
    fn describe(op: &mut Operation<'_>) {
        let config = *op.pagination();
        let mut limit = json!({ "type": "integer", "minimum": 1, "default": config.default_limit });
        let limit_doc = match config.over_max {
            OverMax::Reject => {
                limit["maximum"] = config.max_limit.into();
                format!("Items per page, at most {}.", config.max_limit)
            }
            OverMax::Clamp => format!("Items per page; more than {} gets {}.", config.max_limit, config.max_limit),
        };
        op.parameter("query", "limit", false, limit, Some(&limit_doc));
        op.parameter(
            "query",
            "offset",
            false,
            json!({ "type": "integer", "minimum": 0, "maximum": i64::MAX, "default": 0 }),
            Some("Items to skip."),
        );
        op.problem(422, "`limit` or `offset` is not a whole number in its range.");
    }
}

impl<T: JsonSchema> DescribeOutput for Paginated<T> {
    /// The page, and the `cursor` parameter that continues it: a handler that answers with
    /// `Paginated` is one that can set `next_cursor` (`Page` alone cannot tell whether the
    /// handler reads `cursor`, so it documents `limit` and `offset` only).
    fn describe(op: &mut Operation<'_>) {
        op.parameter(
            "query",
            "cursor",
            false,
            json!({ "type": "string" }),
            Some("Where the page starts: the `next_cursor` of the page before (instead of `offset`)."),
        );
        let schema = op.output_schema::<Paginated<T>>();
        op.response(200, "OK", Some(("application/json", schema)));
        op.response_header(
            200,
            "x-total-count",
            json!({ "type": "integer", "minimum": 0 }),
            "Items across all pages, when counted.",
        );
    }
}
