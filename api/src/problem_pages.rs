//! The HTML page at each problem type's URI, and the index of them all: what the type means
//! and what to do, for the person reading a problem's `type`.

use crate::problem_types::{PREFIX, ProblemType};
use poem::{IntoResponse, Response, handler, http::StatusCode, web::Path};
use std::fmt::Write as _;

/// `GET /problems/{slug}`: the page of one type, in HTML.
#[handler]
pub fn type_page(Path(slug): Path<String>) -> Response {
    let Some(kind) = ProblemType::from_slug(&slug) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body><h1>{title}</h1>\n<p><code>type</code>: <code>{uri}</code>, status {status}</p>\n\
         <h2>What it means</h2>\n<p>{meaning}</p>\n<h2>What to do</h2>\n<p>{remedy}</p>\n\
         <p><a href=\"{PREFIX}\">Every problem type</a></p></body></html>\n",
        title = kind.title(),
        uri = kind.uri(),
        status = kind.status().as_u16(),
        meaning = code_spans(kind.meaning()),
        remedy = code_spans(kind.remedy()),
    );
    html(body)
}

/// `GET /problems/`: every type, linked to its page.
#[handler]
pub fn index_page() -> Response {
    let mut items = String::new();
    for kind in ProblemType::ALL {
        let _ = writeln!(
            items,
            "<li><a href=\"{uri}\"><code>{uri}</code></a> ({status}): {title}</li>",
            uri = kind.uri(),
            status = kind.status().as_u16(),
            title = kind.title(),
        );
    }
    html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Problem types</title></head>\n\
         <body><h1>Problem types</h1>\n<p>Every error is an RFC 9457 problem; its <code>type</code> is \
         <code>about:blank</code> when the status says it all, else one of these.</p>\n<ul>\n{items}</ul></body></html>\n"
    ))
}

fn html(body: String) -> Response {
    body.with_content_type("text/html; charset=utf-8")
        .into_response()
}

/// The page texts' Markdown code spans as HTML (`x` becomes <code>x</code>); the texts are
/// fixed and hold no markup of their own.
fn code_spans(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    for (i, part) in text.split('`').enumerate() {
        let escaped = part.replace('<', "&lt;").replace('>', "&gt;");
        if i % 2 == 1 {
            let _ = write!(out, "<code>{escaped}</code>");
        } else {
            out.push_str(&escaped);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_become_code_elements_and_angle_brackets_are_escaped() {
        assert_eq!(
            code_spans("send `Bearer <token>` now"),
            "send <code>Bearer &lt;token&gt;</code> now"
        );
    }
}
