//! The name of a registered queue as an API parameter: its schema is a string enum whose
//! values come from the job registry, so the published spec (and the SDKs generated from it)
//! list exactly the queues the platform has, and a new kind needs no change here.

use std::borrow::Cow;

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef, Registry},
    types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type},
};
use serde_json::Value;
use veza_jobs::registry::{self, QueueInfo};

/// A registered queue, parsed from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueName(pub QueueInfo);

impl Type for QueueName {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "QueueName".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference(Self::name().into_owned())
    }

    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>(Self::name().into_owned(), |_| {
            let mut names = registry::queue_names();
            names.sort_unstable();
            MetaSchema {
                description: Some("A queue."),
                enum_items: names.into_iter().map(Value::from).collect(),
                ..MetaSchema::new("string")
            }
        });
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromParameter for QueueName {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        registry::queue(value).map(Self).ok_or_else(|| {
            ParseError::custom(format!(
                "`{value}` is not a queue; the queues are {}",
                registry::queue_names().join(", ")
            ))
        })
    }
}

impl ParseFromJSON for QueueName {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(name)) => Self::parse_from_parameter(&name).map_err(ParseError::propagate),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ToJSON for QueueName {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.0.name))
    }
}
