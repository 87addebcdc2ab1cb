//! A cheap lexical pass over SQL text, with no parser: it splits a simple Query into statements,
//! replaces literals by `$n` placeholders (numbered after any `$n` the text already uses),
//! collapses whitespace and comments, and fingerprints the result. The normalised text is what
//! the trail records when `audit.parameters` is not `clear`, and the key of the analysis cache.
//!
//! The lexer follows PostgreSQL's scanner closely enough to never mistake the inside of a string,
//! quoted identifier, dollar-quoted body or comment for SQL: `'it''s; -- not a comment'` stays one
//! literal. It does not decide whether the text is valid SQL; the analyser does.
//!
//! Numbers in `ORDER BY`/`GROUP BY` lists and in `DISTINCT ON (…)` are kept verbatim: there an
//! integer is a column ordinal (`ORDER BY 2`), so it changes what the statement reads and two
//! statements differing in it must not share an analysis.

use std::fmt;
use std::ops::Range;

/// A statement's normalised form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The text with literals replaced by `$n`, whitespace runs and comments collapsed to one space.
    pub text: String,
    /// The literals that were replaced, in order; the first one became `$first_param`.
    pub literals: Vec<Literal>,
    /// Number of the placeholder given to the first replaced literal (one more than the highest
    /// `$n` the original text already used).
    pub first_param: u32,
    /// BLAKE3 of `text`, first 8 bytes.
    pub fingerprint: Fingerprint,
}

/// One literal taken out of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal {
    /// Byte range in the statement text given to [`normalize`].
    pub span: Range<usize>,
    /// The literal exactly as written, quotes and prefix (`E`, `$tag$`) included.
    pub text: String,
}

/// Stable 16-hex-digit identity of a normalised statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 8]);

// === impl Fingerprint ===

impl Fingerprint {
    pub fn of(text: &str) -> Self {
        let hash = blake3::hash(text.as_bytes());
        let mut out = [0u8; 8];
        for (o, b) in out.iter_mut().zip(hash.as_bytes().iter()) {
            *o = *b;
        }
        Fingerprint(out)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

// === lexer ===

/// One lexical token, as a byte range of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// Whitespace or a comment.
    Space,
    /// A string constant of any form, or a dollar-quoted body.
    Str,
    /// A numeric constant.
    Num,
    /// `$n`, with its number (saturated).
    Param(u32),
    /// An unquoted word (keyword or identifier).
    Word,
    /// A double-quoted identifier.
    QuotedIdent,
    /// `;`
    Semi,
    /// Any other character (operators, punctuation).
    Other,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Self {
        Lexer {
            s: text.as_bytes(),
            pos: 0,
        }
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.s.get(i).copied()
    }

    /// Next token and its byte range, or None at the end.
    fn next_token(&mut self) -> Option<(Tok, Range<usize>)> {
        let start = self.pos;
        let c = self.at(start)?;
        let tok = match c {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => {
                while matches!(
                    self.at(self.pos),
                    Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
                ) {
                    self.pos += 1;
                }
                Tok::Space
            }
            b'-' if self.at(start + 1) == Some(b'-') => {
                while let Some(b) = self.at(self.pos) {
                    if b == b'\n' {
                        break;
                    }
                    self.pos += 1;
                }
                Tok::Space
            }
            b'/' if self.at(start + 1) == Some(b'*') => {
                self.block_comment();
                Tok::Space
            }
            b'\'' => {
                self.pos += 1;
                self.quoted(b'\'', false);
                Tok::Str
            }
            b'"' => {
                self.pos += 1;
                self.quoted(b'"', false);
                Tok::QuotedIdent
            }
            b'$' => self.dollar(),
            b';' => {
                self.pos += 1;
                Tok::Semi
            }
            b'0'..=b'9' => {
                self.number();
                Tok::Num
            }
            b'.' if self.at(start + 1).is_some_and(|b| b.is_ascii_digit()) => {
                self.number();
                Tok::Num
            }
            b if is_ident_start(b) => self.word(),
            _ => {
                // One character; multi-byte UTF-8 never starts here (>= 0x80 is an identifier).
                self.pos += 1;
                Tok::Other
            }
        };
        Some((tok, start..self.pos))
    }

    fn block_comment(&mut self) {
        // PostgreSQL block comments nest.
        let mut depth = 0usize;
        while let Some(b) = self.at(self.pos) {
            if b == b'/' && self.at(self.pos + 1) == Some(b'*') {
                depth += 1;
                self.pos += 2;
            } else if b == b'*' && self.at(self.pos + 1) == Some(b'/') {
                self.pos += 2;
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return;
                }
            } else {
                self.pos += 1;
            }
        }
    }

    /// Consumes up to and including the closing `q`; a doubled `q` is an escaped one. With
    /// `backslash`, a backslash escapes the next byte (E'' strings). Unterminated: to the end.
    fn quoted(&mut self, q: u8, backslash: bool) {
        while let Some(b) = self.at(self.pos) {
            if backslash && b == b'\\' {
                self.pos += 2;
                continue;
            }
            self.pos += 1;
            if b == q {
                if self.at(self.pos) == Some(q) {
                    self.pos += 1;
                } else {
                    return;
                }
            }
        }
        self.pos = self.s.len();
    }

    /// `$n`, `$tag$…$tag$`, `$$…$$`, or a lone `$`.
    fn dollar(&mut self) -> Tok {
        let start = self.pos;
        if self.at(start + 1).is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
            let mut n: u32 = 0;
            while let Some(b) = self.at(self.pos).filter(u8::is_ascii_digit) {
                n = n.saturating_mul(10).saturating_add(u32::from(b - b'0'));
                self.pos += 1;
            }
            return Tok::Param(n);
        }
        // Tag: identifier characters without `$`, not starting with a digit.
        let mut end = start + 1;
        if self.at(end).is_some_and(is_ident_start) {
            while self.at(end).is_some_and(|b| is_ident_cont(b) && b != b'$') {
                end += 1;
            }
        }
        if self.at(end) != Some(b'$') {
            self.pos += 1;
            return Tok::Other;
        }
        let delim = self.s.get(start..=end).unwrap_or_default();
        let body = end + 1;
        let found = self
            .s
            .get(body..)
            .and_then(|rest| rest.windows(delim.len()).position(|w| w == delim));
        self.pos = match found {
            Some(i) => body + i + delim.len(),
            None => self.s.len(),
        };
        Tok::Str
    }

    fn number(&mut self) {
        let start = self.pos;
        if self.at(start) == Some(b'0')
            && matches!(
                self.at(start + 1),
                Some(b'x' | b'X' | b'o' | b'O' | b'b' | b'B')
            )
        {
            self.pos += 2;
            while self
                .at(self.pos)
                .is_some_and(|b| b.is_ascii_hexdigit() || b == b'_')
            {
                self.pos += 1;
            }
            return;
        }
        let digits = |l: &mut Self| {
            while l.at(l.pos).is_some_and(|b| b.is_ascii_digit() || b == b'_') {
                l.pos += 1;
            }
        };
        digits(self);
        // `1..5` is not a number followed by `.5`; PostgreSQL has no such syntax, keep it simple.
        if self.at(self.pos) == Some(b'.') && self.at(self.pos + 1) != Some(b'.') {
            self.pos += 1;
            digits(self);
        }
        if matches!(self.at(self.pos), Some(b'e' | b'E')) {
            let mut p = self.pos + 1;
            if matches!(self.at(p), Some(b'+' | b'-')) {
                p += 1;
            }
            if self.at(p).is_some_and(|b| b.is_ascii_digit()) {
                self.pos = p;
                digits(self);
            }
        }
    }

    /// A word, or a prefixed string constant: `E'…'`, `B'…'`, `X'…'`, `N'…'`, `U&'…'`, `U&"…"`.
    fn word(&mut self) -> Tok {
        let start = self.pos;
        let first = self.at(start).unwrap_or(b' ');
        let next = self.at(start + 1);
        match (first.to_ascii_uppercase(), next) {
            (b'E', Some(b'\'')) => {
                self.pos += 2;
                self.quoted(b'\'', true);
                return Tok::Str;
            }
            (b'B' | b'X' | b'N', Some(b'\'')) => {
                self.pos += 2;
                self.quoted(b'\'', false);
                return Tok::Str;
            }
            (b'U', Some(b'&')) => match self.at(start + 2) {
                Some(b'\'') => {
                    self.pos += 3;
                    self.quoted(b'\'', false);
                    return Tok::Str;
                }
                Some(b'"') => {
                    self.pos += 3;
                    self.quoted(b'"', false);
                    return Tok::QuotedIdent;
                }
                _ => {}
            },
            _ => {}
        }
        while self.at(self.pos).is_some_and(is_ident_cont) {
            self.pos += 1;
        }
        Tok::Word
    }
}

/// Splits a simple Query's text into its statements at top-level `;`, skipping empty ones
/// (only whitespace and comments). Each range excludes the `;`.
pub fn split_statements(sql: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut lexer = Lexer::new(sql);
    let mut start = 0;
    let mut has_content = false;
    while let Some((tok, range)) = lexer.next_token() {
        match tok {
            Tok::Semi => {
                if has_content {
                    out.push(start..range.start);
                }
                start = range.end;
                has_content = false;
            }
            Tok::Space => {}
            Tok::Str | Tok::Num | Tok::Param(_) | Tok::Word | Tok::QuotedIdent | Tok::Other => {
                has_content = true
            }
        }
    }
    if has_content {
        out.push(start..sql.len());
    }
    out
}

/// The statement's first word (keyword) after whitespace and comments, as written; empty if
/// it starts with anything else.
pub fn first_word(sql: &str) -> &str {
    let mut lexer = Lexer::new(sql);
    while let Some((tok, range)) = lexer.next_token() {
        match tok {
            Tok::Space => continue,
            Tok::Word => return sql.get(range).unwrap_or_default(),
            Tok::Str | Tok::Num | Tok::Param(_) | Tok::QuotedIdent | Tok::Semi | Tok::Other => {
                return ""
            }
        }
    }
    ""
}

/// The statement's first `n` words (keywords or unquoted identifiers) after whitespace and
/// comments, as written; stops early at anything that is not a word.
pub fn leading_words(sql: &str, n: usize) -> Vec<&str> {
    let mut words = Vec::new();
    let mut lexer = Lexer::new(sql);
    while words.len() < n {
        let Some((tok, range)) = lexer.next_token() else {
            break;
        };
        match tok {
            Tok::Space => continue,
            Tok::Word => words.push(sql.get(range).unwrap_or_default()),
            Tok::Str | Tok::Num | Tok::Param(_) | Tok::QuotedIdent | Tok::Semi | Tok::Other => {
                break
            }
        }
    }
    words
}

/// Keywords that end an `ORDER BY`/`GROUP BY` list at its own parenthesis depth.
const BY_LIST_END: &[&str] = &[
    "LIMIT",
    "OFFSET",
    "FETCH",
    "FOR",
    "HAVING",
    "WINDOW",
    "UNION",
    "INTERSECT",
    "EXCEPT",
    "RETURNING",
    "WHERE",
    "FROM",
    "SELECT",
];

/// Normalises one statement (see the module doc). Never fails: text it cannot lex is copied.
pub fn normalize(sql: &str) -> Normalized {
    // First pass: the highest `$n` already used, so new placeholders do not collide.
    // (Skipped when the text has no `$` at all: the common simple-protocol case.)
    let mut max_param: u32 = 0;
    if sql.contains('$') {
        let mut lexer = Lexer::new(sql);
        while let Some((tok, _)) = lexer.next_token() {
            if let Tok::Param(n) = tok {
                max_param = max_param.max(n);
            }
        }
    }
    let first_param = max_param.saturating_add(1);

    let mut text = String::with_capacity(sql.len());
    let mut literals = Vec::new();
    let mut lexer = Lexer::new(sql);
    let mut pending_space = false;
    let mut depth: usize = 0;
    // Where numbers are kept verbatim: inside an ORDER/GROUP BY list opened at this depth, or
    // inside DISTINCT ON ( … ) whose contents are at this depth.
    let mut by_list: Option<usize> = None;
    let mut distinct_on: Option<usize> = None;
    let mut prev_word: &str = "";
    while let Some((tok, range)) = lexer.next_token() {
        let piece = sql.get(range.clone()).unwrap_or_default();
        if tok == Tok::Space {
            pending_space = !text.is_empty();
            continue;
        }
        if pending_space {
            text.push(' ');
            pending_space = false;
        }
        let mut word: &str = "";
        match tok {
            Tok::Str => replace(&mut text, &mut literals, first_param, range, piece),
            Tok::Num => {
                if by_list.is_some() || distinct_on.is_some() {
                    text.push_str(piece);
                } else {
                    replace(&mut text, &mut literals, first_param, range, piece);
                }
            }
            Tok::Word => {
                word = piece;
                let is = |w: &str, k: &str| w.eq_ignore_ascii_case(k);
                if is(word, "BY") && (is(prev_word, "ORDER") || is(prev_word, "GROUP")) {
                    by_list = Some(depth);
                } else if is(word, "ON") && is(prev_word, "DISTINCT") {
                    distinct_on = Some(depth + 1);
                } else if by_list == Some(depth) && BY_LIST_END.iter().any(|k| is(word, k)) {
                    by_list = None;
                }
                text.push_str(piece);
            }
            Tok::Other => {
                match piece {
                    "(" => depth += 1,
                    ")" => {
                        depth = depth.saturating_sub(1);
                        if by_list.is_some_and(|d| depth < d) {
                            by_list = None;
                        }
                        if distinct_on.is_some_and(|d| depth < d) {
                            distinct_on = None;
                        }
                    }
                    _ => {}
                }
                text.push_str(piece);
            }
            Tok::Semi => {
                by_list = None;
                distinct_on = None;
                text.push_str(piece);
            }
            Tok::Param(_) | Tok::QuotedIdent => text.push_str(piece),
            Tok::Space => {}
        }
        prev_word = word;
    }
    let fingerprint = Fingerprint::of(&text);
    Normalized {
        text,
        literals,
        first_param,
        fingerprint,
    }
}

fn replace(
    text: &mut String,
    literals: &mut Vec<Literal>,
    first_param: u32,
    span: Range<usize>,
    piece: &str,
) {
    let n = u32::try_from(literals.len())
        .unwrap_or(u32::MAX)
        .saturating_add(first_param);
    text.push('$');
    text.push_str(&n.to_string());
    literals.push(Literal {
        span,
        text: piece.to_owned(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        normalize(s).text
    }

    #[test]
    fn replaces_numbers_and_strings() {
        let n = normalize("SELECT * FROM guests WHERE id = 42 AND name = 'Wang'");
        assert_eq!(n.text, "SELECT * FROM guests WHERE id = $1 AND name = $2");
        assert_eq!(n.literals.len(), 2);
        assert_eq!(n.literals[0].text, "42");
        assert_eq!(n.literals[1].text, "'Wang'");
        assert_eq!(n.first_param, 1);
    }

    #[test]
    fn numbers_after_existing_params() {
        let n = normalize("UPDATE t SET a = $2 WHERE b = $1 AND c = 7");
        assert_eq!(n.text, "UPDATE t SET a = $2 WHERE b = $1 AND c = $3");
        assert_eq!(n.first_param, 3);
    }

    #[test]
    fn strings_with_quotes_semicolons_and_comment_markers() {
        assert_eq!(
            norm("SELECT 'it''s; -- no /* no */' ; -- yes\n"),
            "SELECT $1 ;"
        );
        assert_eq!(norm(r"SELECT E'a\'b; c' , 1"), "SELECT $1 , $2");
        assert_eq!(norm("SELECT $$ a ' ; $$, $f$x$$y$f$"), "SELECT $1, $2");
        assert_eq!(
            norm("SELECT B'101', X'ff', U&'d\\0061t', N'x'"),
            "SELECT $1, $2, $3, $4"
        );
    }

    #[test]
    fn identifiers_are_kept() {
        assert_eq!(
            norm(r#"SELECT "a""b", t1.c2, U&"x" FROM "Guests 2""#),
            r#"SELECT "a""b", t1.c2, U&"x" FROM "Guests 2""#
        );
        assert_eq!(norm("SELECT e, x, b FROM t"), "SELECT e, x, b FROM t");
    }

    #[test]
    fn collapses_whitespace_and_comments() {
        assert_eq!(
            norm("  SELECT\n\t1 /* a /* nested */ comment */ +  2 -- tail"),
            "SELECT $1 + $2"
        );
    }

    #[test]
    fn ordinals_stay() {
        assert_eq!(
            norm("SELECT a, b FROM t WHERE c = 3 ORDER BY 2, 1 LIMIT 10"),
            "SELECT a, b FROM t WHERE c = $1 ORDER BY 2, 1 LIMIT $2"
        );
        assert_eq!(
            norm("SELECT DISTINCT ON (1) a FROM (SELECT a FROM t GROUP BY 1) s WHERE x = 5"),
            "SELECT DISTINCT ON (1) a FROM (SELECT a FROM t GROUP BY 1) s WHERE x = $1"
        );
    }

    #[test]
    fn fingerprint_is_stable_and_literal_blind() {
        let a = normalize("SELECT abalance FROM pgbench_accounts WHERE aid = 17");
        let b = normalize("SELECT  abalance FROM pgbench_accounts WHERE aid = 99112");
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.fingerprint.to_string().len(), 16);
        assert_ne!(a.fingerprint, normalize("SELECT 1").fingerprint);
    }

    #[test]
    fn numbers() {
        assert_eq!(
            norm("SELECT 1.5e-3, .5, 0x1F, 1_000"),
            "SELECT $1, $2, $3, $4"
        );
        assert_eq!(norm("SELECT -1"), "SELECT -$1");
    }

    #[test]
    fn splits_statements() {
        let sql = "BEGIN; SELECT ';' ; ;  -- c\n; UPDATE t SET a = $$;$$";
        let parts: Vec<&str> = split_statements(sql)
            .into_iter()
            .map(|r| sql.get(r).unwrap_or_default().trim())
            .collect();
        assert_eq!(parts, vec!["BEGIN", "SELECT ';'", "UPDATE t SET a = $$;$$"]);
        assert!(split_statements(" ; -- only a comment").is_empty());
    }

    #[test]
    fn unterminated_literal_runs_to_end() {
        let n = normalize("SELECT 'abc");
        assert_eq!(n.text, "SELECT $1");
        let n = normalize("SELECT $x$abc");
        assert_eq!(n.text, "SELECT $1");
    }
}
