//! The gate that keeps the contract from breaking a generated client.
//!
//! Every released version of the spec is kept in `openapi/versions/<version>.yaml`; the served
//! spec is the newest, and `info.version` names it. Between two released versions of one major
//! version, Oxide's `drift` finds and classifies every change, and a change that breaks a client
//! generated from the older spec fails the gate, printed with its JSON paths and why, unless the
//! major version was raised: what drift classes backward-incompatible (an operation removed, a
//! type changed), anything removed (a status, which drift calls forward-incompatible: a client
//! regenerated from the newer spec loses the variant its code matches on), and, where drift
//! leaves a schema's change unclassed (drift 0.2 does not look into members, enum values or
//! bounds), the rules generated clients live by ([`judged`]): a member removed, a response
//! member no longer always sent, a request member made required, an enum value removed (or one
//! added to a response), a request bound tightened. What those rules cannot decide fails too:
//! the gate does not guess. The changelog (`docs/API-CHANGES.md`) has one entry per released
//! version.

use serde_json::Value;
use std::{collections::BTreeSet, path::PathBuf};

/// A semantic version, as `info.version` and the versions' file names give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version {
    major: u64,
    minor: u64,
    patch: u64,
}

impl Version {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('.').map(|part| {
            let canonical = !part.is_empty() && (part == "0" || !part.starts_with('0'));
            part.parse::<u64>().ok().filter(|_| canonical)
        });
        let version = Self {
            major: parts.next()??,
            minor: parts.next()??,
            patch: parts.next()??,
        };
        parts.next().is_none().then_some(version)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A change that would break a client generated from the older spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Breaking {
    /// Where, in the older spec and in the newer.
    pub(crate) at: String,
    /// What changed, and how drift classes it.
    pub(crate) why: String,
}

/// The changes from `old` to `new` that break a client generated from `old` (see the module's
/// documentation).
pub(crate) fn breaking(old: &Value, new: &Value) -> Vec<Breaking> {
    let changes = match drift::compare(old, new) {
        Ok(changes) => changes,
        Err(err) => {
            return vec![Breaking {
                at: "#".to_owned(),
                why: format!("the specs cannot be compared: {err:#}"),
            }];
        }
    };
    let mut found = Vec::new();
    for change in changes {
        let Some(first) = change.paths.first() else {
            continue;
        };
        let input = first.comparison == drift::ChangeComparison::Input;
        let located = |stack: &drift::JsonPathStack, subpath: &str| {
            let (base, _) = stack.base_and_subpath();
            let base = base.trim_start_matches('#');
            if subpath.is_empty() {
                base.to_owned()
            } else {
                format!("{base}/{subpath}")
            }
        };
        for info in change.changes {
            use drift::{ChangeClass as C, ChangeDetails as D};
            let reasons = match (info.class, info.details) {
                (C::BackwardIncompatible | C::Incompatible, _) | (_, D::Removed) => {
                    vec![info.message.clone()]
                }
                (C::Unhandled, _) => {
                    let old_at = located(&first.old, &info.old_subpath);
                    let new_at = located(&first.new, &info.new_subpath);
                    match (old.pointer(&old_at), new.pointer(&new_at)) {
                        (Some(was), Some(is)) => judged(was, is, input),
                        _ => vec![format!("{} (not found to judge)", info.message)],
                    }
                }
                _ => Vec::new(),
            };
            for reason in reasons {
                found.push(Breaking {
                    at: format!("{} -> {} [{}]", first.old, first.new, info.old_subpath),
                    why: format!("{reason} ({:?}, {:?})", info.class, info.details),
                });
            }
        }
    }
    found
}

/// Why a schema that was `was` and is `is` breaks a generated client, by the rules drift leaves
/// to its callers; `input`: the schema is read by the service (a request), else by clients.
/// Empty when it breaks none.
pub(crate) fn judged(was: &Value, is: &Value, input: bool) -> Vec<String> {
    let mut reasons = Vec::new();
    let names = |schema: &Value, key: &str| -> BTreeSet<String> {
        match schema.get(key) {
            Some(Value::Object(members)) => members.keys().cloned().collect(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map_or_else(|| item.to_string(), str::to_owned)
                })
                .collect(),
            _ => BTreeSet::new(),
        }
    };
    let (old_members, new_members) = (names(was, "properties"), names(is, "properties"));
    let (old_required, new_required) = (names(was, "required"), names(is, "required"));
    for member in old_members.difference(&new_members) {
        reasons.push(format!("member `{member}` removed"));
    }
    if input {
        for member in new_required.difference(&old_required) {
            reasons.push(format!("request member `{member}` now required"));
        }
    } else {
        for member in old_required.intersection(&new_members) {
            if !new_required.contains(member) {
                reasons.push(format!("response member `{member}` no longer always sent"));
            }
        }
    }
    let (old_values, new_values) = (names(was, "enum"), names(is, "enum"));
    for value in old_values.difference(&new_values) {
        reasons.push(format!("enum value {value} removed"));
    }
    if !input && !old_values.is_empty() {
        for value in new_values.difference(&old_values) {
            reasons.push(format!("enum value {value} added to what clients read"));
        }
    }
    // A bound the service now holds requests to, or one that clients can no longer rely on.
    for (key, upper) in [
        ("maxLength", true),
        ("maxItems", true),
        ("maximum", true),
        ("minLength", false),
        ("minItems", false),
        ("minimum", false),
    ] {
        let (old, new) = (
            was.get(key).and_then(Value::as_f64),
            is.get(key).and_then(Value::as_f64),
        );
        let tighter = match (old, new) {
            (Some(old), Some(new)) if upper => new < old,
            (Some(old), Some(new)) => new > old,
            (None, Some(_)) => true,
            _ => false,
        };
        if old != new && tighter == input {
            reasons.push(format!("bound `{key}` {old:?} -> {new:?}"));
        }
    }
    for key in ["pattern", "format", "type", "oneOf", "anyOf", "allOf"] {
        if was.get(key) != is.get(key) {
            reasons.push(format!("`{key}` changed"));
        }
    }
    reasons
}

/// Whether version `new` of the spec may follow version `old`: its version is greater, and it
/// breaks no client of `old` unless its major version is greater; else the breaking changes.
pub(crate) fn gate(
    (old_version, old): (Version, &Value),
    (new_version, new): (Version, &Value),
) -> Result<(), String> {
    if new_version <= old_version {
        return Err(format!("{new_version} does not follow {old_version}"));
    }
    compatible((old_version, old), (new_version, new))
}

/// Whether `new` breaks no client of version `old_version`, or says by its version that it may.
pub(crate) fn compatible(
    (old_version, old): (Version, &Value),
    (new_version, new): (Version, &Value),
) -> Result<(), String> {
    if new_version.major > old_version.major {
        return Ok(());
    }
    let found = breaking(old, new);
    if found.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = found
        .iter()
        .map(|change| format!("  - {}: {}", change.at, change.why))
        .collect();
    Err(format!(
        "{new_version} breaks clients of {old_version} without a new major version:\n{}",
        listed.join("\n")
    ))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// The OpenAPI versions the contract is released in, each kept in a folder of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `openapi/versions/<version>.yaml`, every release.
    V3_0,
    /// `openapi/versions/3.1/<version>.yaml`, every release since 2.0.0, the first served in
    /// 3.1 too.
    V3_1,
}

impl Dialect {
    pub(crate) const ALL: [Self; 2] = [Self::V3_0, Self::V3_1];

    fn dir(self) -> PathBuf {
        let versions = root().join("openapi").join("versions");
        match self {
            Self::V3_0 => versions,
            Self::V3_1 => versions.join("3.1"),
        }
    }

    /// The document the service serves in this version of OpenAPI.
    pub(crate) fn served(self) -> Value {
        match self {
            Self::V3_0 => crate::spec_value(),
            Self::V3_1 => crate::spec_value_3_1(),
        }
    }

    /// `doc` as drift, which reads 3.0, compares it: a 3.1 document converted back.
    pub(crate) fn comparable(self, doc: &Value) -> Value {
        match self {
            Self::V3_0 => doc.clone(),
            Self::V3_1 => super::openapi31::downgrade::downgrade(doc),
        }
    }

    /// [`compatible`] for two documents of this version of OpenAPI.
    pub(crate) fn compatible(
        self,
        (old_version, old): (Version, &Value),
        (new_version, new): (Version, &Value),
    ) -> Result<(), String> {
        let (old, new) = (self.comparable(old), self.comparable(new));
        compatible((old_version, &old), (new_version, &new))
    }
}

/// Every released version in `dialect`, oldest first, with its spec.
pub(crate) fn released_in(dialect: Dialect) -> Vec<(Version, Value)> {
    let dir = dialect.dir();
    let mut versions: Vec<(Version, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.is_file())
        .map(|path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let version = name
                .strip_suffix(".yaml")
                .and_then(Version::parse)
                .unwrap_or_else(|| panic!("{name} is no <version>.yaml"));
            let text = std::fs::read_to_string(&path).expect("a readable spec");
            let spec: Value = serde_yaml::from_str(&text).expect("a YAML spec");
            assert_eq!(
                spec["info"]["version"].as_str(),
                Some(version.to_string().as_str()),
                "{name} says another version"
            );
            (version, spec)
        })
        .collect();
    versions.sort_by_key(|(version, _)| *version);
    versions
}

/// Every released version in OpenAPI 3.0, oldest first.
pub(crate) fn released() -> Vec<(Version, Value)> {
    released_in(Dialect::V3_0)
}

mod tests;
