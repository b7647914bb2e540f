//! Local search over records: a small query language (`proto-specs/graph.md` §6).
//!
//! It replaces [MS-PPGRH]'s XML `<peersearch>` criteria with text, keeping their semantics:
//! comparisons of attributes and reserved fields, `and` / `or` / `not`, and `*` / `?`
//! wildcards in strings. Search is local: it runs over this replica's store
//! ([`RecordStore::search`](crate::store::RecordStore::search)) and never touches the
//! network.
//!
//! ```text
//! query      = or-expr ;
//! or-expr    = and-expr { "or" and-expr } ;
//! and-expr   = unary { "and" unary } ;
//! unary      = "not" unary | primary ;
//! primary    = "(" or-expr ")" | comparison ;
//! comparison = field op literal ;
//! field      = "@" reserved | attribute-name ;
//! reserved   = "id" | "type" | "creator" | "modifier"
//!            | "created" | "modified" | "expires" | "version" ;
//! attribute-name = 1*40 ( ALPHA | DIGIT | "_" | "-" | "." ) ;
//! op         = "=" | "!=" | "<" | "<=" | ">" | ">=" ;
//! literal    = string | integer | date | bytes ;
//! string     = '"' { char | "\" escape } '"' ;      (* "*" and "?" are wildcards *)
//! escape     = '"' | "\" | "*" | "?" | "n" | "r" | "t" | "u{" 1*6 HEXDIG "}" ;
//! integer    = [ "-" ] 1*DIGIT ;                    (* 64-bit signed *)
//! date       = full-date [ ( "T" | "t" ) time ] ;   (* RFC 3339 §5.6; full-date alone is midnight UTC *)
//! time       = 2DIGIT ":" 2DIGIT ":" 2DIGIT [ "." 1*DIGIT ] ( "Z" | "z" | ( "+" | "-" ) 2DIGIT ":" 2DIGIT ) ;
//! bytes      = "0x" { HEXDIG HEXDIG } ;
//! ```
//!
//! * Keywords are case-insensitive. Whitespace (ASCII) may separate any two tokens. `and`
//!   binds tighter than `or`; `not` tighter than both.
//! * A word followed by an operator is a field, so attributes may be named `and`, `or` or
//!   `not` (`not = 1` compares the attribute `not`).
//! * Reserved fields and the literal each takes: `@id`, `@type` a UUID in quotes (only `=`
//!   and `!=`); `@creator`, `@modifier` a peer name in quotes; `@created`, `@modified`,
//!   `@expires` a date (the wall-clock part of the HLC for the first two); `@version` an
//!   integer. A literal of another type is a parse error.
//! * Attributes compare with a literal of their own type only: a missing attribute or one
//!   of another type makes the comparison false (so `not (a = 1)` matches records without
//!   `a`, and `a != 1` does not). Strings compare by UTF-8 bytes (case-sensitive), bytes
//!   byte-wise, dates and integers numerically.
//! * `*` matches any run of characters (none included), `?` exactly one character (a
//!   Unicode scalar value); write `\*` and `\?` for the characters themselves. Wildcards
//!   work with `=` and `!=`; in a string compared with `<`, `<=`, `>`, `>=` an unescaped
//!   wildcard is a parse error.
//! * Limits: at most [`MAX_QUERY_LEN`] bytes and [`MAX_QUERY_DEPTH`] nested parentheses or
//!   `not`s. Every parse error reports the byte position of the problem and what was
//!   expected there ([`QueryError`]).
//!
//! ```
//! use peergroup_graph::search::Query;
//! let q = Query::parse(r#"@creator = "0.alice*" and (color = "r?d" or size >= 3)
//!                         and not @modified < 2026-01-01"#)?;
//! let err = Query::parse("color = red").unwrap_err();
//! assert_eq!(err.position(), 8);
//! # Ok::<(), peergroup_graph::search::QueryError>(())
//! ```

mod parse;

use std::cmp::Ordering;
use std::fmt;

use peergroup_base::{PeerName, UnixTime};

use crate::id::RecordType;
use crate::record::{AttributeName, AttributeValue, Record};
use crate::store::RecordFilter;

/// Longest query in bytes.
pub const MAX_QUERY_LEN: usize = 4096;
/// Deepest nesting of parentheses and `not`.
pub const MAX_QUERY_DEPTH: usize = 32;

/// Why a query does not parse. Every variant carries the byte position of the problem
/// ([`QueryError::position`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The query is longer than [`MAX_QUERY_LEN`].
    #[error("query is {len} bytes, more than the {max} allowed")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Parentheses or `not`s nest deeper than [`MAX_QUERY_DEPTH`].
    #[error("at byte {position}: nesting deeper than {max} levels")]
    TooDeep {
        /// Where the limit was passed.
        position: usize,
        /// The limit.
        max: usize,
    },
    /// Something other than what the grammar allows at this point.
    #[error("at byte {position}: expected {expected}, found {found}")]
    Unexpected {
        /// Byte offset.
        position: usize,
        /// What the grammar allows here.
        expected: &'static str,
        /// What is there.
        found: String,
    },
    /// A literal (or an attribute name) is malformed: bad escape, bad date, integer out of
    /// range, misplaced wildcard, …
    #[error("at byte {position}: {reason}")]
    InvalidLiteral {
        /// Byte offset.
        position: usize,
        /// What is wrong.
        reason: String,
    },
}

impl QueryError {
    /// The byte offset of the problem (the length limit for [`QueryError::TooLong`]).
    pub fn position(&self) -> usize {
        match self {
            QueryError::TooLong { max, .. } => *max,
            QueryError::TooDeep { position, .. }
            | QueryError::Unexpected { position, .. }
            | QueryError::InvalidLiteral { position, .. } => *position,
        }
    }
}

/// A reserved field of every record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReservedField {
    /// `@id`: the record id.
    Id,
    /// `@type`: the record type.
    Type,
    /// `@creator`: the creator's peer name.
    Creator,
    /// `@modifier`: the last modifier's peer name.
    Modifier,
    /// `@created`: the wall-clock part of the creation time.
    Created,
    /// `@modified`: the wall-clock part of the last-modification time.
    Modified,
    /// `@expires`: the expiration.
    Expires,
    /// `@version`: the version.
    Version,
}

impl ReservedField {
    const ALL: [ReservedField; 8] = [
        ReservedField::Id,
        ReservedField::Type,
        ReservedField::Creator,
        ReservedField::Modifier,
        ReservedField::Created,
        ReservedField::Modified,
        ReservedField::Expires,
        ReservedField::Version,
    ];

    /// The field as written in a query, with its `@`.
    pub fn name(self) -> &'static str {
        match self {
            ReservedField::Id => "@id",
            ReservedField::Type => "@type",
            ReservedField::Creator => "@creator",
            ReservedField::Modifier => "@modifier",
            ReservedField::Created => "@created",
            ReservedField::Modified => "@modified",
            ReservedField::Expires => "@expires",
            ReservedField::Version => "@version",
        }
    }

    /// The field named `word` (without `@`, case-insensitive).
    fn from_name(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name()[1..].eq_ignore_ascii_case(word))
    }
}

/// What a comparison looks at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    /// An attribute.
    Attribute(AttributeName),
    /// A reserved field.
    Reserved(ReservedField),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    fn holds(self, ord: Ordering) -> bool {
        match self {
            CmpOp::Eq => ord.is_eq(),
            CmpOp::Ne => ord.is_ne(),
            CmpOp::Lt => ord.is_lt(),
            CmpOp::Le => ord.is_le(),
            CmpOp::Gt => ord.is_gt(),
            CmpOp::Ge => ord.is_ge(),
        }
    }
}

/// One element of a string literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatternToken {
    /// A literal character (escapes resolved).
    Char(char),
    /// `?`: exactly one character.
    AnyOne,
    /// `*`: any run of characters.
    AnyMany,
}

/// A string literal: characters and, with `=` / `!=`, wildcards.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StringLiteral {
    tokens: Vec<PatternToken>,
}

impl StringLiteral {
    /// A literal without wildcards.
    pub fn exact(text: &str) -> Self {
        StringLiteral { tokens: text.chars().map(PatternToken::Char).collect() }
    }

    /// The tokens.
    pub fn tokens(&self) -> &[PatternToken] {
        &self.tokens
    }

    /// `true` if the literal has a `*` or `?` wildcard.
    pub fn has_wildcards(&self) -> bool {
        self.tokens.iter().any(|t| !matches!(t, PatternToken::Char(_)))
    }

    /// The literal characters (wildcards left out).
    pub fn text(&self) -> String {
        self.tokens
            .iter()
            .filter_map(|t| match t {
                PatternToken::Char(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    /// Wildcard match of the whole of `s`. Greedy with backtracking to the last `*`:
    /// O(len(s) · len(pattern)) at worst, no recursion.
    pub fn matches(&self, s: &str) -> bool {
        let text: Vec<char> = s.chars().collect();
        let pat = &self.tokens;
        let (mut ti, mut pi) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while ti < text.len() {
            match pat.get(pi) {
                Some(PatternToken::AnyMany) => {
                    star = Some((pi, ti));
                    pi += 1;
                }
                Some(PatternToken::AnyOne) => {
                    ti += 1;
                    pi += 1;
                }
                Some(PatternToken::Char(c)) if *c == text[ti] => {
                    ti += 1;
                    pi += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        pi = sp + 1;
                        ti = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        pat[pi.min(pat.len())..].iter().all(|t| *t == PatternToken::AnyMany)
    }
}

/// A typed literal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Literal {
    /// A string, possibly with wildcards.
    String(StringLiteral),
    /// An integer.
    Int(i64),
    /// A date.
    Date(UnixTime),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A UUID (the literal of `@id` and `@type`).
    Uuid([u8; 16]),
}

/// One comparison: `field op literal`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Comparison {
    /// What is compared.
    pub field: Field,
    /// How.
    pub op: CmpOp,
    /// With what.
    pub value: Literal,
}

/// A parsed query expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    /// All must hold (two or more).
    And(Vec<Expr>),
    /// One must hold (two or more).
    Or(Vec<Expr>),
    /// Must not hold.
    Not(Box<Expr>),
    /// A comparison.
    Compare(Comparison),
}

/// A parsed query. `Display` writes a canonical form; for every query [`Query::parse`]
/// returns, parsing that form gives the same query back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Query {
    expr: Expr,
}

/// The value a record has for a field, borrowed where possible.
enum Value<'a> {
    Str(&'a str),
    Owned(String),
    Int(i64),
    Date(UnixTime),
    Bytes(&'a [u8]),
    Uuid([u8; 16]),
}

impl Query {
    /// Parses a query (grammar in the [module docs](self)).
    pub fn parse(src: &str) -> Result<Query, QueryError> {
        parse::parse(src).map(|expr| Query { expr })
    }

    /// The query from an expression built in code.
    pub fn from_expr(expr: Expr) -> Query {
        Query { expr }
    }

    /// The expression.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// `true` if the record matches. (Deleted and expired records are filtered out by the
    /// store before this is asked.)
    pub fn matches(&self, record: &Record) -> bool {
        eval(&self.expr, record)
    }

    /// An index the store can use: an exact `@type = …` or `@creator = …` that the whole
    /// query requires (top level, or a member of a top-level `and`).
    pub fn index_hint(&self) -> Option<RecordFilter> {
        fn hint(e: &Expr) -> Option<RecordFilter> {
            match e {
                Expr::Compare(Comparison { field: Field::Reserved(f), op: CmpOp::Eq, value }) => {
                    match (f, value) {
                        (ReservedField::Type, Literal::Uuid(u)) => {
                            Some(RecordFilter::Type(RecordType::from_bytes(*u)))
                        }
                        (ReservedField::Creator, Literal::String(s)) if !s.has_wildcards() => {
                            PeerName::parse(&s.text()).ok().map(RecordFilter::Creator)
                        }
                        _ => None,
                    }
                }
                Expr::And(items) => items.iter().find_map(hint),
                _ => None,
            }
        }
        hint(&self.expr)
    }
}

impl std::str::FromStr for Query {
    type Err = QueryError;
    fn from_str(s: &str) -> Result<Self, QueryError> {
        Query::parse(s)
    }
}

fn field_value<'a>(field: &Field, r: &'a Record) -> Option<Value<'a>> {
    Some(match field {
        Field::Attribute(name) => match r.attribute(name.as_str())? {
            AttributeValue::String(s) => Value::Str(s),
            AttributeValue::Int(i) => Value::Int(*i),
            AttributeValue::Date(d) => Value::Date(*d),
            AttributeValue::Bytes(b) => Value::Bytes(b),
        },
        Field::Reserved(f) => match f {
            ReservedField::Id => Value::Uuid(*r.id().as_bytes()),
            ReservedField::Type => Value::Uuid(*r.record_type().as_bytes()),
            ReservedField::Creator => Value::Owned(r.creator().to_string()),
            ReservedField::Modifier => Value::Owned(r.last_modifier().to_string()),
            ReservedField::Created => Value::Date(r.created().wall()),
            ReservedField::Modified => Value::Date(r.modified().wall()),
            ReservedField::Expires => Value::Date(r.expires()),
            ReservedField::Version => Value::Int(i64::from(r.version())),
        },
    })
}

fn compare(c: &Comparison, r: &Record) -> bool {
    let Some(v) = field_value(&c.field, r) else { return false };
    let ord = match (&v, &c.value) {
        (Value::Str(_) | Value::Owned(_), Literal::String(lit)) => {
            let s = match &v {
                Value::Str(s) => s,
                Value::Owned(s) => s.as_str(),
                _ => return false,
            };
            if lit.has_wildcards() {
                // The parser allows wildcards only with = and !=.
                let m = lit.matches(s);
                return if c.op == CmpOp::Ne { !m } else { m };
            }
            s.as_bytes().cmp(lit.text().as_bytes())
        }
        (Value::Int(a), Literal::Int(b)) => a.cmp(b),
        (Value::Date(a), Literal::Date(b)) => a.cmp(b),
        (Value::Bytes(a), Literal::Bytes(b)) => (*a).cmp(b.as_slice()),
        (Value::Uuid(a), Literal::Uuid(b)) => a.cmp(b),
        _ => return false,
    };
    c.op.holds(ord)
}

fn eval(e: &Expr, r: &Record) -> bool {
    match e {
        Expr::And(items) => items.iter().all(|i| eval(i, r)),
        Expr::Or(items) => items.iter().any(|i| eval(i, r)),
        Expr::Not(inner) => !eval(inner, r),
        Expr::Compare(c) => compare(c, r),
    }
}

// --- canonical text form ---

fn write_string(f: &mut fmt::Formatter<'_>, s: &StringLiteral) -> fmt::Result {
    f.write_str("\"")?;
    for t in &s.tokens {
        match t {
            PatternToken::AnyMany => f.write_str("*")?,
            PatternToken::AnyOne => f.write_str("?")?,
            PatternToken::Char(c) => match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '*' => f.write_str("\\*")?,
                '?' => f.write_str("\\?")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if c.is_control() => write!(f, "\\u{{{:x}}}", u32::from(*c))?,
                c => write!(f, "{c}")?,
            },
        }
    }
    f.write_str("\"")
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(s) => write_string(f, s),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Date(d) => write!(f, "{d}"),
            Literal::Bytes(b) => write!(f, "0x{}", hex::encode(b)),
            Literal::Uuid(u) => write!(f, "\"{}\"", crate::id::RecordId::from_bytes(*u)),
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Field::Attribute(a) => write!(f, "{a}")?,
            Field::Reserved(r) => f.write_str(r.name())?,
        }
        write!(f, " {} {}", self.op.symbol(), self.value)
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn item(f: &mut fmt::Formatter<'_>, e: &Expr) -> fmt::Result {
            match e {
                Expr::And(_) | Expr::Or(_) => write!(f, "({e})"),
                _ => write!(f, "{e}"),
            }
        }
        match self {
            Expr::And(items) | Expr::Or(items) => {
                let sep = if matches!(self, Expr::And(_)) { " and " } else { " or " };
                for (i, e) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    item(f, e)?;
                }
                Ok(())
            }
            Expr::Not(inner) => {
                f.write_str("not ")?;
                item(f, inner)
            }
            Expr::Compare(c) => write!(f, "{c}"),
        }
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> StringLiteral {
        match Query::parse(&format!("a = {s}")).unwrap().expr {
            Expr::Compare(Comparison { value: Literal::String(l), .. }) => l,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wildcards() {
        assert!(pat(r#""*""#).matches(""));
        assert!(pat(r#""a*c""#).matches("abbbc"));
        assert!(pat(r#""a*c""#).matches("ac"));
        assert!(!pat(r#""a*c""#).matches("acb"));
        assert!(pat(r#""a?c""#).matches("aéc"));
        assert!(!pat(r#""a?c""#).matches("ac"));
        assert!(pat(r#""*b*b*""#).matches("abcbd"));
        assert!(pat(r#""a\*""#).matches("a*"));
        assert!(!pat(r#""a\*""#).matches("ab"));
        assert!(pat(r#""a\?""#).matches("a?"));
        assert!(pat(r#""**""#).matches("xyz"));
        assert!(!pat(r#""""#).matches("x"));
    }

    #[test]
    fn parse_errors_point_at_the_problem() {
        let e = |q: &str| Query::parse(q).unwrap_err();
        assert_eq!(e("").position(), 0);
        assert_eq!(e("a").position(), 1);
        assert_eq!(e("a = ").position(), 4);
        assert_eq!(e("a = 1 b = 2").position(), 6);
        assert_eq!(e("(a = 1").position(), 6);
        assert_eq!(e("a = \"x").position(), 6);
        assert_eq!(e(r#"a = "\q""#).position(), 5);
        assert_eq!(e("a < \"x*\"").position(), 6);
        assert_eq!(e("@bogus = 1").position(), 0);
        assert_eq!(e("@version = \"1\"").position(), 11);
        assert_eq!(e("@created > 2026-02-30").position(), 19);
        assert_eq!(e("@type = \"nope\"").position(), 8);
        assert_eq!(e("a = 99999999999999999999").position(), 4);
        assert_eq!(e("a = 0x123").position(), 4);
        assert_eq!(e("a = 12ab").position(), 6);
        assert_eq!(e("a = 1 and").position(), 9);
        assert_eq!(e(&"x".repeat(41)).position(), 0);
        let deep = format!("{}a = 1{}", "(".repeat(40), ")".repeat(40));
        assert!(matches!(e(&deep), QueryError::TooDeep { max: 32, .. }));
        assert!(matches!(e(&"not ".repeat(40)), QueryError::TooDeep { .. }));
        assert!(matches!(e(&"a".repeat(5000)), QueryError::TooLong { len: 5000, .. }));
        let msg = e("color = red").to_string();
        assert!(msg.contains("at byte 8") && msg.contains("expected a value"), "{msg}");
    }

    #[test]
    fn dates() {
        let d = |q: &str| match Query::parse(&format!("@expires = {q}")).unwrap().expr {
            Expr::Compare(Comparison { value: Literal::Date(d), .. }) => d.as_millis(),
            other => panic!("{other:?}"),
        };
        assert_eq!(d("1970-01-01"), 0);
        assert_eq!(d("2026-11-25T18:51:39.250Z"), 1_795_632_699_250);
        assert_eq!(d("2026-11-25T19:51:39.25+01:00"), 1_795_632_699_250);
        assert_eq!(d("2026-11-25t18:51:39.2509z"), 1_795_632_699_250);
        assert_eq!(d("2000-02-29T00:00:00Z"), 951_782_400_000);
        assert!(Query::parse("@expires = 1969-12-31T23:59:59Z").is_err());
        assert!(Query::parse("@expires = 1970-01-01T00:30:00+01:00").is_err());
        assert!(Query::parse("@expires = 2001-02-29").is_err());
        assert!(Query::parse("@expires = 2001-01-01T24:00:00Z").is_err());
        assert!(Query::parse("@expires = 2001-01-01T12:00:00").is_err());
    }

    #[test]
    fn keywords_and_attribute_names() {
        let q = Query::parse("not = 1 and and = 2 or NOT or = 3").unwrap();
        assert_eq!(q.to_string(), "(not = 1 and and = 2) or not or = 3");
        let q = Query::parse("not(a=1)and(b=2)").unwrap();
        assert_eq!(q.to_string(), "not a = 1 and b = 2");
        let q = Query::parse("a = 1 and (b = 2 and c = 3)").unwrap();
        assert_eq!(q.to_string(), "a = 1 and (b = 2 and c = 3)");
    }

    #[test]
    fn index_hints() {
        let t = "6c796768-7732-406b-bc6e-5e9c0d864580";
        let q = Query::parse(&format!("x = 1 and @type = \"{t}\"")).unwrap();
        assert_eq!(q.index_hint(), Some(RecordFilter::Type(RecordType::parse(t).unwrap())));
        let q = Query::parse("@creator = \"0.alice\"").unwrap();
        assert_eq!(
            q.index_hint(),
            Some(RecordFilter::Creator(PeerName::parse("0.alice").unwrap()))
        );
        assert_eq!(Query::parse("@creator = \"0.a*\"").unwrap().index_hint(), None);
        assert_eq!(Query::parse(&format!("x = 1 or @type = \"{t}\"")).unwrap().index_hint(), None);
        assert_eq!(Query::parse(&format!("not @type = \"{t}\"")).unwrap().index_hint(), None);
    }
}
