//! The spec as YAML that every YAML reader reads as the JSON document.
//!
//! A YAML string written plain is typed by its reader's resolver, and readers disagree: YAML 1.1
//! (PyYAML's `safe_load`, Ruby's Psych) reads `2026-11-25T02:25:50Z` as a timestamp, `yes`, `on`
//! and `off` as booleans, `1_000` as an integer and `1:20` as a number, where YAML 1.2 reads
//! strings. serde_yaml quotes only what YAML 1.2 would mistype, so this writer decides itself:
//! a string is written plain only when it starts with a letter (or `/`, `$`, `_`, `(`) and is
//! not one of the words either version reads as a boolean or a null; anything else that could
//! be a number, a date or YAML syntax is quoted. Block style throughout, as serde_yaml writes it.

use serde_json::{Map, Number, Value};
use std::fmt::Write;

/// `value` as a YAML document.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0, false),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        scalar => {
            out.push_str(&inline(scalar, 0));
            out.push('\n');
        }
    }
    out
}

/// Writes `map`'s entries at `indent`; with `continued`, the first one goes on the line
/// already begun (after a sequence's `- `).
fn write_map(out: &mut String, map: &Map<String, Value>, indent: usize, continued: bool) {
    for (n, (key, value)) in map.iter().enumerate() {
        if n > 0 || !continued {
            pad(out, indent);
        }
        out.push_str(&key_scalar(key));
        out.push(':');
        write_member(out, value, indent);
    }
}

/// Writes `items` at `indent`, each after `- `.
fn write_seq(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        pad(out, indent);
        out.push('-');
        match item {
            Value::Object(map) if !map.is_empty() => {
                out.push(' ');
                write_map(out, map, indent + 2, true);
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_seq(out, inner, indent + 2);
            }
            scalar => {
                out.push(' ');
                out.push_str(&inline(scalar, indent + 2));
                out.push('\n');
            }
        }
    }
}

/// Writes the value of a member whose key is at `indent`, after its `:`. A sequence goes at
/// the key's own indentation, as serde_yaml writes it.
fn write_member(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_map(out, map, indent + 2, false);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_seq(out, items, indent);
        }
        scalar => {
            out.push(' ');
            out.push_str(&inline(scalar, indent + 2));
            out.push('\n');
        }
    }
}

/// A scalar or an empty collection, written where it starts; a literal block's lines at
/// `indent`.
fn inline(value: &Value, indent: usize) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => string(s, indent),
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
    }
}

/// A number both versions read as one: a float keeps a `.` in its mantissa and a signed
/// exponent, which YAML 1.1's float pattern requires (`1e-7` would be a string there).
fn number(n: &Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let text = n.to_string();
    let (mantissa, exponent) = text.split_once(['e', 'E']).unwrap_or((&text, ""));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_owned()
    } else {
        format!("{mantissa}.0")
    };
    match exponent.strip_prefix(['+', '-']) {
        _ if exponent.is_empty() => mantissa,
        Some(_) => format!("{mantissa}e{exponent}"),
        None => format!("{mantissa}e+{exponent}"),
    }
}

/// A string value: plain when safe, a literal block when it spans lines, quoted otherwise.
fn string(s: &str, indent: usize) -> String {
    if plain_is_safe(s) {
        return s.to_owned();
    }
    if let Some(block) = literal_block(s, indent) {
        return block;
    }
    quoted(s)
}

/// A mapping key: never a block, since a key is one line.
fn key_scalar(key: &str) -> String {
    if plain_is_safe(key) {
        key.to_owned()
    } else {
        quoted(key)
    }
}

/// Words that YAML 1.1 reads as booleans or nulls, and YAML 1.2 as booleans or nulls, in any
/// case (the specs list some casings; a reader's leniency is not ours to guess).
const RESERVED_WORDS: [&str; 9] = ["y", "n", "yes", "no", "on", "off", "true", "false", "null"];

/// Whether `s` written plain is read back as this string by YAML 1.1 and 1.2 readers: it starts
/// with a character that begins no number, date, special float or indicator, is no reserved
/// word, and holds nothing that ends a plain scalar or starts a comment.
fn plain_is_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let starts_well = first.is_ascii_alphabetic() || matches!(first, '/' | '$' | '_' | '(');
    starts_well
        && !RESERVED_WORDS.iter().any(|w| w.eq_ignore_ascii_case(s))
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && s.chars()
            .all(|c| c == ' ' || (!c.is_control() && !is_special_space(c)))
}

/// Characters YAML treats as line breaks or a byte-order mark, which no plain or single-quoted
/// scalar may hold as themselves.
fn is_special_space(c: char) -> bool {
    matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// `s` as a literal block (`|` or `|-`), when every line can be written as itself: no control
/// character but the line breaks, no line of only spaces, no leading space on the first line
/// (which would set the block's indentation), at most one trailing line break.
fn literal_block(s: &str, indent: usize) -> Option<String> {
    let body = s.strip_suffix('\n');
    let (text, chomp) = match body {
        Some(text) => (text, "|"),
        None => (s, "|-"),
    };
    let writable = text.contains('\n')
        && !text.starts_with(' ')
        && !text.ends_with('\n')
        && text
            .chars()
            .all(|c| c == '\n' || (!c.is_control() && !is_special_space(c)))
        && text
            .split('\n')
            .all(|line| line.is_empty() || !line.trim_start_matches(' ').is_empty());
    if !writable {
        return None;
    }
    let mut block = chomp.to_owned();
    for line in text.split('\n') {
        block.push('\n');
        if !line.is_empty() {
            pad(&mut block, indent);
            block.push_str(line);
        }
    }
    Some(block)
}

/// `s` quoted: single quotes when it holds only printable characters, else double quotes with
/// JSON's escapes, which YAML's double-quoted style shares.
fn quoted(s: &str) -> String {
    if s.chars().all(|c| !c.is_control() && !is_special_space(c)) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || is_special_space(c) => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

#[cfg(test)]
pub(crate) mod tests;
