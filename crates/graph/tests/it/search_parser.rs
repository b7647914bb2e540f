//! Property and fuzz-style tests of the search language (`graph.md` §6): the parser never
//! panics — on arbitrary text, on token soup, on deep nesting — every error points inside
//! the input, the canonical form parses back to the same query, and evaluation obeys the
//! laws of boolean logic.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::*;
use peergroup_base::UnixTime;
use peergroup_graph::AttributeName;
use peergroup_graph::record::{Record, RecordLimits};
use peergroup_graph::search::{
    CmpOp, Comparison, Expr, Field, Literal, MAX_QUERY_LEN, PatternToken, Query, QueryError,
};
use proptest::prelude::*;

const TOKENS: &[&str] = &[
    "a",
    "color",
    "n",
    "not",
    "and",
    "or",
    "@type",
    "@id",
    "@creator",
    "@modifier",
    "@created",
    "@modified",
    "@expires",
    "@version",
    "@",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "!",
    "(",
    ")",
    "\"x\"",
    "\"r*d\"",
    "\"a?\"",
    "\"\\*\"",
    "\"\\u{e9}\"",
    "\"\\q\"",
    "\"",
    "\\",
    "12",
    "-3",
    "99999999999999999999",
    "2026-01-01",
    "2026-11-25T18:51:39.250Z",
    "2026-02-30",
    "2026-01-01T25:00:00Z",
    "0x",
    "0xab",
    "0xabc",
    "0.alice",
    " ",
    "  ",
    "\t",
    "é",
    "*",
    "?",
    "\"6c796768-7732-406b-bc6e-5e9c0d864580\"",
];

fn soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(TOKENS), 0..40).prop_map(|t| t.concat())
}

fn check_error(src: &str, e: &QueryError) {
    assert!(e.position() <= src.len().max(MAX_QUERY_LEN), "{e} for {src:?}");
    assert!(!e.to_string().is_empty());
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        proptest::collection::vec(
            prop_oneof![
                any::<char>().prop_map(PatternToken::Char),
                Just(PatternToken::AnyOne),
                Just(PatternToken::AnyMany),
            ],
            0..8
        )
        .prop_map(|tokens| {
            let mut q = String::from("a = \"");
            for t in &tokens {
                match t {
                    PatternToken::Char(c) => q.push_str(&format!("\\u{{{:x}}}", u32::from(*c))),
                    PatternToken::AnyOne => q.push('?'),
                    PatternToken::AnyMany => q.push('*'),
                }
            }
            q.push('"');
            // parse to obtain the literal through the public API
            match Query::parse(&q).unwrap().expr().clone() {
                Expr::Compare(c) => c.value,
                other => panic!("{other:?}"),
            }
        }),
        any::<i64>().prop_map(Literal::Int),
        (0u64..253_402_300_799_999).prop_map(|t| Literal::Date(UnixTime::from_millis(t))),
        proptest::collection::vec(any::<u8>(), 0..6).prop_map(Literal::Bytes),
    ]
}

fn comparison() -> impl Strategy<Value = Expr> {
    let op = proptest::sample::select(vec![
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ]);
    ("[a-zA-Z0-9_.-]{1,12}", op, literal()).prop_map(|(name, op, value)| {
        // wildcards only with = and !=
        let op = match &value {
            Literal::String(s) if s.has_wildcards() && !matches!(op, CmpOp::Eq | CmpOp::Ne) => {
                CmpOp::Eq
            }
            _ => op,
        };
        Expr::Compare(Comparison {
            field: Field::Attribute(AttributeName::new(&name).unwrap()),
            op,
            value,
        })
    })
}

fn expr() -> impl Strategy<Value = Expr> {
    comparison().prop_recursive(5, 40, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

fn records() -> Vec<Record> {
    let l = RecordLimits::default();
    vec![
        rec(1, 1, "0.alice", 0),
        builder(2, 1, "0.bob", 0).attribute("a", "red").attribute("color", 5).build(&l).unwrap(),
        builder(3, 2, "0.carol", 0)
            .attribute("a", 7)
            .attribute("b", vec![1u8, 2])
            .build(&l)
            .unwrap(),
        builder(4, 2, "0.dave", 0).attribute("n", -1).attribute("x.y", NOW).build(&l).unwrap(),
    ]
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_text(s in "\\PC{0,200}") {
        if let Err(e) = Query::parse(&s) {
            check_error(&s, &e);
        }
    }

    #[test]
    fn never_panics_on_token_soup(s in soup()) {
        match Query::parse(&s) {
            // whatever parses has a canonical form that parses to the same query
            Ok(q) => prop_assert_eq!(Query::parse(&q.to_string()).unwrap(), q),
            Err(e) => check_error(&s, &e),
        }
    }

    #[test]
    fn canonical_form_round_trips(e in expr()) {
        let q = Query::from_expr(e);
        let text = q.to_string();
        let back = Query::parse(&text);
        prop_assert!(back.is_ok(), "{} does not parse: {:?}", text, back);
        prop_assert_eq!(back.unwrap(), q);
    }

    #[test]
    fn evaluation_obeys_boolean_laws(a in expr(), b in expr()) {
        let q = |e: Expr| Query::from_expr(e);
        let not = |e: Expr| Expr::Not(Box::new(e));
        for r in records() {
            let (va, vb) = (q(a.clone()).matches(&r), q(b.clone()).matches(&r));
            prop_assert_eq!(q(not(a.clone())).matches(&r), !va);
            prop_assert_eq!(q(not(not(a.clone()))).matches(&r), va);
            prop_assert_eq!(q(Expr::And(vec![a.clone(), b.clone()])).matches(&r), va && vb);
            prop_assert_eq!(q(Expr::Or(vec![a.clone(), b.clone()])).matches(&r), va || vb);
            // De Morgan
            prop_assert_eq!(
                q(not(Expr::And(vec![a.clone(), b.clone()]))).matches(&r),
                q(Expr::Or(vec![not(a.clone()), not(b.clone())])).matches(&r)
            );
        }
    }
}

#[test]
fn deep_and_long_inputs_are_refused_cleanly() {
    for depth in [31, 32, 33, 1000, 100_000] {
        let src = format!("{}a = 1{}", "(".repeat(depth), ")".repeat(depth));
        let r = Query::parse(&src);
        if depth <= 32 && src.len() <= MAX_QUERY_LEN {
            assert!(r.is_ok(), "depth {depth}: {r:?}");
        } else {
            assert!(
                matches!(r, Err(QueryError::TooDeep { .. } | QueryError::TooLong { .. })),
                "depth {depth}"
            );
        }
        let nots = format!("{}a = 1", "not ".repeat(depth));
        assert!(Query::parse(&nots).is_ok() == (depth <= 32 && nots.len() <= MAX_QUERY_LEN));
    }
    // the longest accepted query
    let long = format!("a = \"{}\"", "x".repeat(MAX_QUERY_LEN - 6));
    assert_eq!(long.len(), MAX_QUERY_LEN);
    assert!(Query::parse(&long).is_ok());
    assert!(matches!(Query::parse(&format!("{long} ")), Err(QueryError::TooLong { .. })));
}

#[test]
fn attribute_types_must_match() {
    let r = &records()[1]; // a = "red", color = 5
    let m = |q: &str| Query::parse(q).unwrap().matches(r);
    assert!(m(r#"a = "red""#));
    assert!(!m("a = 1"));
    assert!(!m("a != 1"));
    assert!(m("not a = 1"));
    assert!(m("color > 4 and color < 6"));
    assert!(!m(r#"color = "5""#));
    assert!(m(r#"a > "r" and a < "s""#));
    assert!(m(r#"a = "\u{72}ed""#));
    let r3 = &records()[2];
    assert!(Query::parse("b = 0x0102").unwrap().matches(r3));
    assert!(Query::parse("b < 0x03").unwrap().matches(r3));
    let r4 = &records()[3];
    assert!(Query::parse("x.y = 2027-01-15T08:00:00Z").unwrap().matches(r4));
    assert!(Query::parse("x.y > 2027-01-15").unwrap().matches(r4));
    assert!(Query::parse("n = -1 and @modifier = \"0.d*\"").unwrap().matches(r4));
}
