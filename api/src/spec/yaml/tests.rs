//! The writer checked by two readers: YAML 1.1's rules (what PyYAML's `safe_load` and Ruby's
//! Psych apply) over a real parser's events, and serde_yaml's YAML 1.2 reading.

use super::to_string;
use regex::Regex;
use serde_json::{Map, Value, json};
use std::{collections::BTreeMap, sync::Mutex};
use yaml_rust2::{
    parser::{Event, EventReceiver, Parser},
    scanner::TScalarStyle,
};

/// `yaml` read as a YAML 1.1 loader reads it: a plain scalar is typed by YAML 1.1's implicit
/// resolvers (bool, int, float, null, timestamp, merge, value: the regular expressions of
/// yaml.org/type, as PyYAML's resolver has them, plus the `y`/`n` booleans of the spec); a value
/// of a type JSON lacks comes back as `{"!!<type>": text}`, so it differs from any JSON string.
pub(crate) fn read_yaml_1_1(yaml: &str) -> Value {
    let mut events = Events(Vec::new());
    Parser::new_from_str(yaml)
        .load(&mut events, false)
        .expect("well-formed YAML");
    let mut events = events.0.into_iter().filter(|event| {
        !matches!(
            event,
            Event::StreamStart | Event::StreamEnd | Event::DocumentStart | Event::DocumentEnd
        )
    });
    node(&mut events).expect("a document")
}

/// `yaml` read by serde_yaml, which follows YAML 1.2's core schema.
pub(crate) fn read_yaml_1_2(yaml: &str) -> Value {
    serde_yaml::from_str(yaml).expect("well-formed YAML")
}

struct Events(Vec<Event>);

impl EventReceiver for Events {
    fn on_event(&mut self, event: Event) {
        self.0.push(event);
    }
}

/// The next node, or `None` at the end of the collection being read.
fn node(events: &mut dyn Iterator<Item = Event>) -> Option<Value> {
    Some(match events.next().expect("an event") {
        Event::SequenceEnd | Event::MappingEnd => return None,
        Event::Scalar(text, style, _, tag) => {
            assert!(tag.is_none(), "no explicit tags expected, found {tag:?}");
            match style {
                TScalarStyle::Plain => resolve_1_1(&text),
                _ => Value::String(text),
            }
        }
        Event::SequenceStart(..) => Value::Array(std::iter::from_fn(|| node(events)).collect()),
        Event::MappingStart(..) => {
            let mut map = Map::new();
            while let Some(key) = node(events) {
                let Value::String(key) = key else {
                    panic!("a key YAML 1.1 reads as {key}, not a string");
                };
                let value = node(events).expect("a value");
                assert!(map.insert(key.clone(), value).is_none(), "key {key} twice");
            }
            Value::Object(map)
        }
        other => panic!("unexpected event {other:?}"),
    })
}

/// A plain scalar's value under YAML 1.1's implicit resolvers.
fn resolve_1_1(text: &str) -> Value {
    let matches = |pattern: &'static str| {
        // Compiled once per pattern: the spec has tens of thousands of plain scalars.
        static COMPILED: Mutex<BTreeMap<&str, Regex>> = Mutex::new(BTreeMap::new());
        let mut compiled = COMPILED.lock().expect("not poisoned");
        compiled
            .entry(pattern)
            .or_insert_with(|| Regex::new(&format!("^(?:{pattern})$")).expect("a pattern"))
            .is_match(text)
    };
    if matches("y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF")
    {
        return Value::Bool(matches("y|Y|yes|Yes|YES|true|True|TRUE|on|On|ON"));
    }
    if matches("~|null|Null|NULL|") {
        return Value::Null;
    }
    let int = "[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+\
               |[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+";
    if matches(int) {
        return match (text.parse::<i64>(), text.parse::<u64>()) {
            (Ok(n), _) => json!(n),
            (_, Ok(n)) => json!(n),
            _ => json!({"!!int": text}),
        };
    }
    let float = "[-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+][0-9]+)?\
                 |\\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?\
                 |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*\
                 |[-+]?\\.(?:inf|Inf|INF)|\\.(?:nan|NaN|NAN)";
    if matches(float) {
        return match text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
        {
            Some(n) if !text.contains('_') => Value::Number(n),
            _ => json!({"!!float": text}),
        };
    }
    let timestamp = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]\
                     |[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?\
                      (?:[Tt]|[ \\t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\\.[0-9]*)?\
                      (?:[ \\t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?";
    if matches(timestamp) {
        return json!({"!!timestamp": text});
    }
    if matches("<<") {
        return json!({"!!merge": text});
    }
    if matches("=") {
        return json!({"!!value": text});
    }
    Value::String(text.to_owned())
}

/// Asserts that both readers read `value`'s YAML as `value`.
fn assert_read_back(value: &Value) {
    let yaml = to_string(value);
    assert_eq!(&read_yaml_1_1(&yaml), value, "YAML 1.1 reading of:\n{yaml}");
    assert_eq!(&read_yaml_1_2(&yaml), value, "YAML 1.2 reading of:\n{yaml}");
}

/// Strings a plain scalar would give another type or another string in some reader.
const TRICKY: &[&str] = &[
    "2026-11-25T02:25:50.742787Z",
    "2026-11-25 02:25:50",
    "2026-11-25",
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "N",
    "true",
    "False",
    "null",
    "NULL",
    "~",
    "",
    "0",
    "42",
    "-7",
    "1_000",
    "1:20",
    "190:20:30.15",
    "0x1F",
    "0b101",
    "012",
    "3.0.0",
    "0.5",
    "1e3",
    "1.0e+3",
    ".5",
    ".inf",
    "-.Inf",
    ".NaN",
    "<<",
    "=",
    " leading space",
    "trailing space ",
    "a: b",
    "ends with a colon:",
    "a #comment",
    "- item",
    "---",
    "#hash",
    "'single",
    "\"double",
    "%percent",
    "@at",
    "`tick",
    "!tag",
    "&anchor",
    "*alias",
    "|pipe",
    ">fold",
    "?question",
    "[bracket",
    "{brace",
    ",comma",
    "tab\there",
    "line\u{2028}separator",
    "nul\u{0}byte",
    "two\nlines",
    "ends with a newline\n",
    "two newlines\n\n",
    "\nstarts with a newline",
    "  indented\nblock",
    "blank\n   \nline",
    "It's",
];

#[test]
fn strings_any_reader_would_mistype_are_quoted_and_read_back_as_written() {
    for text in TRICKY {
        let value = json!({ *text: *text, "list": [*text, [*text]], "nested": {"inner": *text} });
        assert_read_back(&value);
    }
}

#[test]
fn numbers_booleans_nulls_and_empty_collections_read_back_as_themselves() {
    assert_read_back(&json!({
        "int": 42, "negative": -7, "big": u64::MAX, "float": 0.5, "tiny": 1e-7, "huge": 1e300,
        "true": true, "false": false, "null": null, "empty map": {}, "empty list": [],
        "list of lists": [[1, [2, []]], {}], "list of maps": [{"a": 1, "b": [{"c": {}}]}],
    }));
}

#[test]
fn everyday_strings_stay_plain_for_readers() {
    let yaml = to_string(&json!({
        "/users/{id}": {"$ref": "#/components/schemas/UserOut"},
        "content": "application/json; charset=utf-8",
        "url": "https://spdx.org/licenses/MIT.html",
        "title": "Service API",
    }));
    assert!(yaml.contains("/users/{id}:\n"), "{yaml}");
    assert!(
        yaml.contains("content: application/json; charset=utf-8\n"),
        "{yaml}"
    );
    assert!(
        yaml.contains("url: https://spdx.org/licenses/MIT.html\n"),
        "{yaml}"
    );
    assert!(yaml.contains("title: Service API\n"), "{yaml}");
    assert!(
        yaml.contains("$ref: '#/components/schemas/UserOut'\n"),
        "{yaml}"
    );
}

#[test]
fn descriptions_over_several_lines_are_literal_blocks() {
    let yaml = to_string(&json!({"description": "First line: one.\n\nThird line.", "x": 1}));
    assert_eq!(
        yaml,
        "description: |-\n  First line: one.\n\n  Third line.\nx: 1\n"
    );
}
