//! The `batch` stream: one request line read (bounded) and parsed into its `id`, its `op`
//! and the [`Request`] (`crate::protocol` says what a request is) before anything is
//! embedded or searched.
//!
//! Nothing here depends on burn, the model or the index (only serde_json,
//! `mmbind-modalities` and the protocol), so the fuzzer compiles this very file (`fuzz/fuzz_targets/
//! batch_request.rs`) and feeds it arbitrary lines.

use std::io::{BufRead, Read};

use serde_json::Value;

use crate::protocol::Request;

/// A request line, parsed: its `id` and `op` (echoed in the response) and the request or
/// why it is not one.
#[derive(Debug)]
pub struct Parsed {
    pub id: Value,
    pub op: Option<String>,
    pub request: Result<Request, String>,
}

/// Parses and validates one request line.
pub fn parse(line: &str) -> Parsed {
    let mut value: Value = match serde_json::from_str(line) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return failed(Value::Null, None, "a request is a JSON object".into()),
        Err(e) => return failed(Value::Null, None, format!("not JSON: {e}")),
    };
    let map = value.as_object_mut().expect("checked object");
    let id = map.remove("id").unwrap_or(Value::Null);
    let op = match map.remove("op") {
        Some(Value::String(op)) => op,
        _ => {
            let reason = "missing \"op\" (embed, query, add or classify)".into();
            return failed(id, None, reason);
        }
    };
    let request = Request::from_json(&op, value);
    Parsed {
        id,
        op: Some(op),
        request,
    }
}

fn failed(id: Value, op: Option<String>, reason: String) -> Parsed {
    Parsed {
        id,
        op,
        request: Err(reason),
    }
}

/// The next request line of `input` (without its newline), `Err` with the reason for a
/// line that cannot be a request (over `max` bytes, which are skipped without being held in
/// memory, or not UTF-8), or `None` at the end. One bad line is answered and the stream goes on.
pub fn read_line<'b>(
    input: &mut impl BufRead,
    max: u64,
    buf: &'b mut Vec<u8>,
) -> std::io::Result<Option<Result<&'b str, String>>> {
    buf.clear();
    let n = input
        .by_ref()
        .take(max.saturating_add(1))
        .read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    } else if buf.len() as u64 > max {
        skip_line(input)?;
        return Ok(Some(Err(format!(
            "request line over the limit of {max} bytes (raise it with --limit request-bytes=N)"
        ))));
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Some(std::str::from_utf8(buf).map_err(|e| {
        format!(
            "request line is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        )
    })))
}

/// Discards input up to and including the next newline.
fn skip_line(input: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok(());
        }
        match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => {
                input.consume(i + 1);
                return Ok(());
            }
            None => {
                let len = chunk.len();
                input.consume(len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::SearchMethod;

    #[test]
    fn lines_are_bounded_and_checked() {
        let data = b"{\"op\":\"embed\"}\r\n\xff\xfe\n".to_vec();
        let long = [b"x".repeat(50), b"\nnext\n".to_vec()].concat();
        let mut r = std::io::Cursor::new([data, long].concat());
        let mut buf = Vec::new();
        assert_eq!(
            read_line(&mut r, 20, &mut buf).unwrap(),
            Some(Ok("{\"op\":\"embed\"}"))
        );
        let e = read_line(&mut r, 20, &mut buf)
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert!(e.contains("not UTF-8"), "{e}");
        let e = read_line(&mut r, 20, &mut buf)
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert!(e.contains("request-bytes"), "{e}");
        assert_eq!(read_line(&mut r, 20, &mut buf).unwrap(), Some(Ok("next")));
        assert_eq!(read_line(&mut r, 20, &mut buf).unwrap(), None);
    }

    #[test]
    fn requests_are_validated_before_any_work() {
        let err = |line: &str| parse(line).request.unwrap_err();
        assert!(err("[1]").contains("JSON object"));
        assert!(err("{\"id\": 3}").contains("missing \"op\""));
        assert!(
            err(r#"{"op": "query", "input": {"text": "a", "audio": "b"}}"#).contains("exactly one")
        );
        assert!(
            err(r#"{"op": "query", "input": {"text": "a"}, "top_k": 0}"#).contains("at least 1")
        );
        assert!(
            err(r#"{"op": "query", "input": {"text": "a"}, "top_k": 18446744073709551615}"#)
                .contains("top-k")
        );
        assert!(err(r#"{"op": "add", "inputs": []}"#).contains("non-empty"));
        assert!(err(r#"{"op": "classify", "input": {"text": "a"}, "labels": ["x"], "templates": ["no slot"]}"#).contains("no {}"));
        assert!(err(r#"{"op": "fly"}"#).contains("unknown op"));
        let p = parse(
            r#"{"id": [7], "op": "add", "inputs": [{"text": "a"}, {"vision": "b.png", "weight": -0.5}], "approx": true, "ef": 40}"#,
        );
        assert_eq!(p.id, serde_json::json!([7]));
        match p.request.unwrap() {
            Request::Search(s) => {
                assert_eq!(s.terms.len(), 2);
                assert_eq!(s.terms[1].weight, -0.5);
                assert_eq!(s.options.method, SearchMethod::Approx { ef: Some(40) });
            }
            other => panic!("{other:?}"),
        }
        let p = parse(r#"{"op": "query", "input": {"text": "a"}, "compressed": true}"#);
        match p.request.unwrap() {
            Request::Search(s) => assert_eq!(s.options.method, SearchMethod::Compressed),
            other => panic!("{other:?}"),
        }
        assert!(
            err(r#"{"op": "query", "input": {"text": "a"}, "compressed": true, "approx": true}"#)
                .contains("exclude each other")
        );
    }
}
