//! The dashboard class's property definitions (see `crate::class::dashboard`).

use std::sync::OnceLock;

use serde_json::Value;

use super::{from_table, Definition};
use crate::class::dashboard::{CONNECTOR_CLASS, DEFAULT_LISTEN, LISTEN, SPEC};

const fn common(
    name: &'static str,
    kind: &'static str,
    default: Option<&'static str>,
    required: bool,
    display_name: &'static str,
    documentation: &'static str,
) -> Definition {
    Definition {
        name,
        kind,
        default,
        required,
        importance: "HIGH",
        group: "Common",
        display_name,
        documentation,
        recommended: &[],
    }
}

const TABLE: &[Definition] = &[
    common("name", "STRING", None, true, "Connector name", "Names the connector; the spec's name defaults to it."),
    common("connector.class", "STRING", None, true, "Connector class", CONNECTOR_CLASS),
    common("tasks.max", "INT", Some("1"), false, "Tasks max", "One task runs whatever this says; it must be at least 1."),
    Definition {
        name: SPEC,
        kind: "STRING",
        default: None,
        required: true,
        importance: "HIGH",
        group: "Dashboard",
        display_name: "Aggregation spec",
        documentation: "The aggregation spec as JSON text: the document `pgcdc dashboard --config` reads (sources, tables, metrics, alerts, redis.url, kafka...). Its name defaults to the connector's.",
        recommended: &[],
    },
    Definition {
        name: LISTEN,
        kind: "STRING",
        default: Some(DEFAULT_LISTEN),
        required: false,
        importance: "MEDIUM",
        group: "Dashboard",
        display_name: "Listen address",
        documentation: "Where the live page, its JSON API and its /metrics are served (host:port; port 0 picks a free one).",
        recommended: &[],
    },
];

pub(super) fn definitions() -> &'static [Value] {
    static BUILT: OnceLock<Vec<Value>> = OnceLock::new();
    BUILT.get_or_init(|| from_table(TABLE))
}
