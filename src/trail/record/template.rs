//! `statement` records rendered from parts: a session renders the members a decided statement
//! always has once (the template), and each run adds only its session and parameters. Serde
//! renders the template, so the bytes are exactly those of [`Prepared::new`] on the whole body.

use super::{Body, Prepared, RecordError, Statement};

/// The members of a `statement` record other than `session` and `params`, rendered as JSON:
/// those before `params` (`op`, `sql`) and those after it (`fingerprint` … `decision`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementTemplate {
    /// `,"op":…,"sql":…`
    head: Vec<u8>,
    /// `,"fingerprint":…,"decision":…` (without the closing brace)
    tail: Vec<u8>,
}

/// The start of a rendered statement with `session` 0.
const SESSION_ZERO: &[u8] = b"{\"session\":0";
/// `params` rendered empty; serde writes it between `sql` and `fingerprint`.
const EMPTY_PARAMS: &[u8] = b",\"params\":[]";

impl StatementTemplate {
    /// The template of `statement` (its `session` and `params` are ignored).
    pub fn new(statement: &Statement) -> Result<StatementTemplate, RecordError> {
        let bare = Statement {
            session: 0,
            params: Vec::new(),
            ..statement.clone()
        };
        let json = Prepared::new(&Body::Statement(bare))?.json;
        // A quote inside a JSON string is escaped, so the first `,"params":` outside the
        // leading members is the member itself.
        let at = json
            .windows(EMPTY_PARAMS.len())
            .position(|w| w == EMPTY_PARAMS)
            .filter(|_| json.starts_with(SESSION_ZERO));
        let (Some(at), Some(b'}')) = (at, json.last()) else {
            return Err(RecordError::Encode(
                "statement members are not in SPEC order".to_owned(),
            ));
        };
        let head = json
            .get(SESSION_ZERO.len()..at)
            .unwrap_or_default()
            .to_vec();
        let tail = json
            .get(at + EMPTY_PARAMS.len()..json.len() - 1)
            .unwrap_or_default()
            .to_vec();
        Ok(StatementTemplate { head, tail })
    }

    /// The record of one run: `session` and its parameters added to the template.
    pub fn render(&self, session: u64, params: &Params) -> Prepared {
        let mut json = Vec::with_capacity(
            self.head.len() + self.tail.len() + params.json.len() + SESSION_ZERO.len() + 40,
        );
        json.extend_from_slice(b"{\"session\":");
        super::push_u64(&mut json, session);
        json.extend_from_slice(&self.head);
        json.extend_from_slice(b",\"params\":[");
        json.extend_from_slice(&params.json);
        json.push(b']');
        json.extend_from_slice(&self.tail);
        json.push(b'}');
        Prepared {
            kind: "statement",
            json,
            statement_seq: None,
        }
    }
}

/// A statement's `params`, rendered as JSON array elements as the values come in (a keyed hash
/// goes straight in as hex: no string per parameter).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// The elements, comma separated, without the brackets.
    json: Vec<u8>,
}

impl Params {
    fn comma(&mut self) {
        if !self.json.is_empty() {
            self.json.push(b',');
        }
    }

    /// A NULL parameter.
    pub fn push_null(&mut self) {
        self.comma();
        self.json.extend_from_slice(b"null");
    }

    /// A value recorded as text.
    pub fn push_str(&mut self, value: &str) {
        self.comma();
        let start = self.json.len();
        if super::push_json_str(&mut self.json, value).is_err() {
            // Not reached: any &str renders. Should it fail, the value still takes its place.
            self.json.truncate(start);
            self.json.extend_from_slice(b"null");
        }
    }

    /// A value recorded as its keyed BLAKE3 hash (lowercase hex).
    pub fn push_keyed_hash(&mut self, key: &super::HashKey, value: &[u8]) {
        self.comma();
        self.json.push(b'"');
        self.json
            .extend_from_slice(&super::hex_32(key.keyed(value).as_bytes()));
        self.json.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trail::record::{Decision, HashKey};

    fn statement(sql: &str, params: Vec<Option<String>>) -> Statement {
        Statement {
            session: 42,
            op: "SELECT".to_owned(),
            sql: sql.to_owned(),
            params,
            fingerprint: "abc".to_owned(),
            tables: vec!["public.t".to_owned()],
            columns_read: vec!["public.t.a".to_owned()],
            columns_written: Vec::new(),
            masked: vec!["public.t.\"params\"".to_owned()],
            decision: Decision::Allow,
        }
    }

    #[test]
    fn a_rendered_template_is_byte_identical_to_the_whole_body() {
        let key = HashKey::new([9; 32]);
        // The SQL holds what the template looks for, quoted as JSON would escape it.
        let sql = r#"SELECT $1, ',"params":[]' AS "x""#;
        let mut params = Params::default();
        params.push_keyed_hash(&key, b"A123456789");
        params.push_null();
        params.push_str("tab\tand \"quote\"");
        let whole = statement(
            sql,
            vec![
                Some(key.keyed_hex(b"A123456789")),
                None,
                Some("tab\tand \"quote\"".to_owned()),
            ],
        );
        let expected = Prepared::new(&Body::Statement(whole.clone())).unwrap();
        let template = StatementTemplate::new(&statement(sql, Vec::new())).unwrap();
        assert_eq!(template.render(42, &params), expected);
        assert_eq!(
            template.render(42, &Params::default()),
            Prepared::new(&Body::Statement(statement(sql, Vec::new()))).unwrap()
        );
    }
}
