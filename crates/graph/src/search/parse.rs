//! The recursive-descent parser of the search language (grammar in the [parent](super)
//! module). Recursion depth is bounded by [`MAX_QUERY_DEPTH`]: every recursion goes
//! through a parenthesis or a `not`, and each of those counts one level.

use peergroup_base::UnixTime;

use crate::record::{AttributeName, MAX_ATTRIBUTE_NAME_LEN};
use crate::search::{
    CmpOp, Comparison, Expr, Field, Literal, MAX_QUERY_DEPTH, MAX_QUERY_LEN, PatternToken,
    QueryError, ReservedField, StringLiteral,
};

pub(super) fn parse(src: &str) -> Result<Expr, QueryError> {
    if src.len() > MAX_QUERY_LEN {
        return Err(QueryError::TooLong { len: src.len(), max: MAX_QUERY_LEN });
    }
    let mut p = Parser { src, pos: 0, depth: 0 };
    let expr = p.parse_or()?;
    p.skip_ws();
    if p.pos < src.len() {
        return Err(p.unexpected("'and', 'or' or the end of the query"));
    }
    Ok(expr)
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
}

fn is_word_byte(b: u8) -> bool {
    crate::record::attribute_name_byte(b)
}

fn is_op_start(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'<' | b'>')
}

impl<'a> Parser<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.src.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    /// A short description of what is at `pos`, for error messages.
    fn found_at(&self, pos: usize) -> String {
        match self.src.get(pos..) {
            None | Some("") => "the end of the query".to_owned(),
            Some(rest) => {
                let snippet: String = rest.chars().take(12).collect();
                let more = if rest.chars().nth(12).is_some() { "…" } else { "" };
                format!("{snippet:?}{more}")
            }
        }
    }

    fn unexpected(&self, expected: &'static str) -> QueryError {
        QueryError::Unexpected { position: self.pos, expected, found: self.found_at(self.pos) }
    }

    fn invalid(&self, position: usize, reason: impl Into<String>) -> QueryError {
        QueryError::InvalidLiteral { position, reason: reason.into() }
    }

    /// The word (attribute-name bytes) starting at `at`.
    fn word_at(&self, at: usize) -> &'a str {
        let b = self.bytes();
        let mut end = at;
        while end < b.len() && is_word_byte(b[end]) {
            end += 1;
        }
        // Word bytes are ASCII, so `at..end` lies on char boundaries.
        self.src.get(at..end).unwrap_or_default()
    }

    /// Consumes keyword `kw` (case-insensitive, a whole word) if it is next.
    fn keyword(&mut self, kw: &str) -> bool {
        self.skip_ws();
        if self.word_at(self.pos).eq_ignore_ascii_case(kw) {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_QUERY_DEPTH {
            return Err(QueryError::TooDeep { position: self.pos, max: MAX_QUERY_DEPTH });
        }
        Ok(())
    }

    // or-expr = and-expr { "or" and-expr }
    fn parse_or(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.parse_and()?];
        while self.keyword("or") {
            items.push(self.parse_and()?);
        }
        Ok(if items.len() == 1 { items.swap_remove(0) } else { Expr::Or(items) })
    }

    // and-expr = unary { "and" unary }
    fn parse_and(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.parse_unary()?];
        while self.keyword("and") {
            items.push(self.parse_unary()?);
        }
        Ok(if items.len() == 1 { items.swap_remove(0) } else { Expr::And(items) })
    }

    // unary = "not" unary | primary
    // `not` followed by an operator is an attribute named "not", not the keyword.
    fn parse_unary(&mut self) -> Result<Expr, QueryError> {
        self.skip_ws();
        let start = self.pos;
        let word = self.word_at(start);
        if word.eq_ignore_ascii_case("not") {
            let mut after = start + word.len();
            while self.bytes().get(after).is_some_and(|b| b.is_ascii_whitespace()) {
                after += 1;
            }
            if !self.bytes().get(after).copied().is_some_and(is_op_start) {
                self.pos = start + word.len();
                self.enter()?;
                let inner = self.parse_unary()?;
                self.depth -= 1;
                return Ok(Expr::Not(Box::new(inner)));
            }
        }
        self.parse_primary()
    }

    // primary = "(" or-expr ")" | comparison
    fn parse_primary(&mut self) -> Result<Expr, QueryError> {
        self.skip_ws();
        if self.peek() == Some(b'(') {
            let open = self.pos;
            self.pos += 1;
            self.enter()?;
            let inner = self.parse_or()?;
            self.skip_ws();
            if self.peek() != Some(b')') {
                return Err(QueryError::Unexpected {
                    position: self.pos,
                    expected: "')'",
                    found: format!(
                        "{} (the '(' at byte {open} is not closed)",
                        self.found_at(self.pos)
                    ),
                });
            }
            self.pos += 1;
            self.depth -= 1;
            return Ok(inner);
        }
        self.parse_comparison().map(Expr::Compare)
    }

    // comparison = field op literal
    fn parse_comparison(&mut self) -> Result<Comparison, QueryError> {
        let field = self.parse_field()?;
        self.skip_ws();
        let op = self.parse_op()?;
        self.skip_ws();
        let value = self.parse_literal(&field, op)?;
        Ok(Comparison { field, op, value })
    }

    // field = "@" reserved-name | attribute-name
    fn parse_field(&mut self) -> Result<Field, QueryError> {
        self.skip_ws();
        let start = self.pos;
        if self.peek() == Some(b'@') {
            let word = self.word_at(start + 1);
            let field = ReservedField::from_name(word).ok_or_else(|| QueryError::Unexpected {
                position: start,
                expected: "a reserved field (@id, @type, @creator, @modifier, @created, \
                               @modified, @expires, @version)",
                found: self.found_at(start),
            })?;
            self.pos = start + 1 + word.len();
            return Ok(Field::Reserved(field));
        }
        let word = self.word_at(start);
        if word.is_empty() {
            return Err(self.unexpected(
                "a comparison (an attribute name, or a reserved field like @creator) or '('",
            ));
        }
        if word.len() > MAX_ATTRIBUTE_NAME_LEN {
            return Err(self.invalid(start, "attribute names are at most 40 characters"));
        }
        // The word consists of name bytes and has the right length, so it is a valid name.
        let name = AttributeName::new(word).map_err(|e| self.invalid(start, e.to_string()))?;
        self.pos = start + word.len();
        Ok(Field::Attribute(name))
    }

    // op = "=" | "!=" | "<" | "<=" | ">" | ">="
    fn parse_op(&mut self) -> Result<CmpOp, QueryError> {
        let b = self.bytes();
        let (op, len) = match (b.get(self.pos), b.get(self.pos + 1)) {
            (Some(b'='), _) => (CmpOp::Eq, 1),
            (Some(b'!'), Some(b'=')) => (CmpOp::Ne, 2),
            (Some(b'<'), Some(b'=')) => (CmpOp::Le, 2),
            (Some(b'<'), _) => (CmpOp::Lt, 1),
            (Some(b'>'), Some(b'=')) => (CmpOp::Ge, 2),
            (Some(b'>'), _) => (CmpOp::Gt, 1),
            _ => return Err(self.unexpected("an operator (= != < <= > >=)")),
        };
        self.pos += len;
        Ok(op)
    }

    // literal = string | integer | date | bytes
    fn parse_literal(&mut self, field: &Field, op: CmpOp) -> Result<Literal, QueryError> {
        let start = self.pos;
        let lit = match self.peek() {
            Some(b'"') => Literal::String(self.parse_string(op)?),
            Some(b'0') if matches!(self.bytes().get(self.pos + 1), Some(b'x' | b'X')) => {
                self.parse_bytes()?
            }
            Some(b) if b.is_ascii_digit() || b == b'-' => self.parse_number_or_date()?,
            _ => {
                return Err(self.unexpected(
                    "a value: a \"string\", an integer, a date (RFC 3339) or 0x-prefixed bytes",
                ));
            }
        };
        self.check_literal(field, op, lit, start)
    }

    /// Checks the literal's type against a reserved field (and converts UUID strings).
    fn check_literal(
        &self,
        field: &Field,
        op: CmpOp,
        lit: Literal,
        start: usize,
    ) -> Result<Literal, QueryError> {
        let Field::Reserved(r) = field else { return Ok(lit) };
        let wrong = |expected: &'static str| QueryError::Unexpected {
            position: start,
            expected,
            found: self.found_at(start),
        };
        match r {
            ReservedField::Id | ReservedField::Type => {
                if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    return Err(self.invalid(
                        start,
                        format!("{} can only be compared with = or !=", r.name()),
                    ));
                }
                match &lit {
                    Literal::String(s) if !s.has_wildcards() => {
                        let text = s.text();
                        crate::id::RecordId::parse(&text)
                            .map(|id| Literal::Uuid(*id.as_bytes()))
                            .map_err(|_| {
                                self.invalid(start, format!("{} needs a UUID string", r.name()))
                            })
                    }
                    _ => Err(wrong(
                        "a UUID in quotes, like \"6c796768-7732-406b-bc6e-5e9c0d864580\"",
                    )),
                }
            }
            ReservedField::Creator | ReservedField::Modifier => match lit {
                Literal::String(_) => Ok(lit),
                _ => Err(wrong("a peer name in quotes (wildcards allowed)")),
            },
            ReservedField::Created | ReservedField::Modified | ReservedField::Expires => {
                match lit {
                    Literal::Date(_) => Ok(lit),
                    _ => Err(wrong("a date (RFC 3339, like 2026-11-25T18:51:39Z)")),
                }
            }
            ReservedField::Version => match lit {
                Literal::Int(_) => Ok(lit),
                _ => Err(wrong("an integer")),
            },
        }
    }

    // string = '"' { char | escape } '"'
    fn parse_string(&mut self, op: CmpOp) -> Result<StringLiteral, QueryError> {
        let open = self.pos;
        self.pos += 1;
        let mut tokens = Vec::new();
        let wildcards_ok = matches!(op, CmpOp::Eq | CmpOp::Ne);
        loop {
            let rest = self.src.get(self.pos..).unwrap_or_default();
            let Some(c) = rest.chars().next() else {
                return Err(QueryError::Unexpected {
                    position: self.src.len(),
                    expected: "'\"' to close the string",
                    found: format!("the end of the query (the string opened at byte {open})"),
                });
            };
            let at = self.pos;
            self.pos += c.len_utf8();
            match c {
                '"' => break,
                '*' | '?' if !wildcards_ok => {
                    return Err(self.invalid(
                        at,
                        "wildcards are only allowed with = and != (write \\* or \\? for the character)",
                    ));
                }
                '*' => tokens.push(PatternToken::AnyMany),
                '?' => tokens.push(PatternToken::AnyOne),
                '\\' => tokens.push(PatternToken::Char(self.parse_escape(at)?)),
                c => tokens.push(PatternToken::Char(c)),
            }
        }
        Ok(StringLiteral { tokens })
    }

    /// After a backslash at `at`.
    fn parse_escape(&mut self, at: usize) -> Result<char, QueryError> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'*') => '*',
            Some(b'?') => '?',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                if self.peek() != Some(b'{') {
                    return Err(self.invalid(at, "\\u needs {hex digits}, like \\u{e9}"));
                }
                let digits_start = self.pos + 1;
                let b = self.bytes();
                let mut end = digits_start;
                while end < b.len() && b[end].is_ascii_hexdigit() && end - digits_start < 6 {
                    end += 1;
                }
                if b.get(end) != Some(&b'}') || end == digits_start {
                    return Err(
                        self.invalid(at, "\\u needs 1 to 6 hex digits in braces, like \\u{e9}")
                    );
                }
                let code =
                    u32::from_str_radix(self.src.get(digits_start..end).unwrap_or_default(), 16)
                        .map_err(|_| self.invalid(at, "bad \\u escape"))?;
                let c = char::from_u32(code)
                    .ok_or_else(|| self.invalid(at, "\\u escape is not a Unicode scalar value"))?;
                self.pos = end + 1;
                return Ok(c);
            }
            _ => {
                return Err(self
                    .invalid(at, "unknown escape; use \\\" \\\\ \\* \\? \\n \\r \\t or \\u{hex}"));
            }
        };
        self.pos += 1;
        Ok(c)
    }

    // bytes = "0x" { hexdigit hexdigit }
    fn parse_bytes(&mut self) -> Result<Literal, QueryError> {
        let start = self.pos;
        self.pos += 2;
        let b = self.bytes();
        let mut end = self.pos;
        while end < b.len() && b[end].is_ascii_hexdigit() {
            end += 1;
        }
        if b.get(end).copied().is_some_and(is_word_byte) {
            return Err(self.invalid(end, "bytes are written 0x followed by hex digits"));
        }
        let digits = self.src.get(self.pos..end).unwrap_or_default();
        let bytes = hex::decode(digits)
            .map_err(|_| self.invalid(start, "bytes need an even number of hex digits"))?;
        self.pos = end;
        Ok(Literal::Bytes(bytes))
    }

    // integer = [ "-" ] digit { digit } ;  date = RFC 3339 full-date [ "T" time ]
    fn parse_number_or_date(&mut self) -> Result<Literal, QueryError> {
        let start = self.pos;
        let b = self.bytes();
        // Invariant: called after `peek` found a digit or '-' at `start`, so it is in bounds.
        let mut end = start + usize::from(b[start] == b'-');
        let digits_start = end;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        if end - digits_start == 4 && b[start] != b'-' && b.get(end) == Some(&b'-') {
            return self.parse_date(start).map(Literal::Date);
        }
        if end == digits_start {
            return Err(self.invalid(start, "expected digits after '-'"));
        }
        if b.get(end).copied().is_some_and(is_word_byte) {
            return Err(self.invalid(end, "expected the end of the number"));
        }
        let text = self.src.get(start..end).unwrap_or_default();
        let v = text
            .parse::<i64>()
            .map_err(|_| self.invalid(start, "integer out of range (64-bit signed)"))?;
        self.pos = end;
        Ok(Literal::Int(v))
    }

    fn parse_date(&mut self, start: usize) -> Result<UnixTime, QueryError> {
        let mut d = DateScanner { b: self.bytes(), pos: start };
        let bad = |p: usize, what: &str| QueryError::InvalidLiteral {
            position: p,
            reason: format!("invalid date: {what}"),
        };
        let year = d.digits(4).ok_or_else(|| bad(d.pos, "expected a 4-digit year"))?;
        d.expect(b'-').ok_or_else(|| bad(d.pos, "expected '-'"))?;
        let month = d.digits(2).ok_or_else(|| bad(d.pos, "expected a 2-digit month"))?;
        d.expect(b'-').ok_or_else(|| bad(d.pos, "expected '-'"))?;
        let day_pos = d.pos;
        let day = d.digits(2).ok_or_else(|| bad(d.pos, "expected a 2-digit day"))?;
        if !(1..=12).contains(&month) {
            return Err(bad(start + 5, "month must be 01 to 12"));
        }
        if day < 1 || day > days_in_month(year, month) {
            return Err(bad(day_pos, "no such day in that month"));
        }
        let mut millis: i64 = 0;
        let mut offset_min: i64 = 0;
        if matches!(d.peek(), Some(b'T' | b't')) {
            d.pos += 1;
            let h_pos = d.pos;
            let h = d.digits(2).ok_or_else(|| bad(d.pos, "expected a 2-digit hour"))?;
            d.expect(b':').ok_or_else(|| bad(d.pos, "expected ':'"))?;
            let m = d.digits(2).ok_or_else(|| bad(d.pos, "expected 2-digit minutes"))?;
            d.expect(b':').ok_or_else(|| bad(d.pos, "expected ':'"))?;
            let s = d.digits(2).ok_or_else(|| bad(d.pos, "expected 2-digit seconds"))?;
            if h > 23 || m > 59 || s > 59 {
                return Err(bad(h_pos, "time out of range (00:00:00 to 23:59:59)"));
            }
            let mut ms = 0;
            if d.peek() == Some(b'.') {
                d.pos += 1;
                let frac_start = d.pos;
                while d.peek().is_some_and(|c| c.is_ascii_digit()) {
                    if d.pos - frac_start < 3 {
                        ms = ms * 10 + i64::from(d.b[d.pos] - b'0');
                    }
                    d.pos += 1;
                }
                let n = d.pos - frac_start;
                if n == 0 {
                    return Err(bad(d.pos, "expected digits after '.'"));
                }
                for _ in n..3 {
                    ms *= 10;
                }
            }
            match d.peek() {
                Some(b'Z' | b'z') => d.pos += 1,
                Some(sign @ (b'+' | b'-')) => {
                    d.pos += 1;
                    let oh_pos = d.pos;
                    let oh =
                        d.digits(2).ok_or_else(|| bad(d.pos, "expected a 2-digit offset hour"))?;
                    d.expect(b':').ok_or_else(|| bad(d.pos, "expected ':' in the offset"))?;
                    let om =
                        d.digits(2).ok_or_else(|| bad(d.pos, "expected 2-digit offset minutes"))?;
                    if oh > 23 || om > 59 {
                        return Err(bad(oh_pos, "offset out of range"));
                    }
                    offset_min = (oh * 60 + om) * if sign == b'-' { -1 } else { 1 };
                }
                _ => return Err(bad(d.pos, "expected 'Z' or an offset like +01:00")),
            }
            millis = ((h * 60 + m) * 60 + s) * 1000 + ms;
        }
        if d.peek().is_some_and(is_word_byte) {
            return Err(bad(d.pos, "unexpected characters after the date"));
        }
        let days = days_from_civil(year, month, day);
        let total = days * 86_400_000 + millis - offset_min * 60_000;
        let total = u64::try_from(total)
            .map_err(|_| bad(start, "dates before 1970-01-01T00:00:00Z are not supported"))?;
        self.pos = d.pos;
        Ok(UnixTime::from_millis(total))
    }
}

struct DateScanner<'a> {
    b: &'a [u8],
    pos: usize,
}

impl DateScanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn digits(&mut self, n: usize) -> Option<i64> {
        let mut v = 0i64;
        for i in 0..n {
            let c = *self.b.get(self.pos + i)?;
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        self.pos += n;
        Some(v)
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek() == Some(c)).then(|| self.pos += 1)
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }
}
