//! RFC 4475 §3.1.1 / §3.1.2 and RFC 5118 torture messages against acd's SIP verdicts: every
//! valid message is accepted, every invalid request gets its error status, every invalid
//! response is dropped, and nothing panics on any input.

use acd_engine::sip::header::{parse_contacts, parse_name_addr, parse_vias, Contact};
use acd_engine::sip::{
    parse, verdict, DropReason, Framing, HeaderName, Invalid, StartLine, Verdict,
};
use proptest::prelude::*;
use std::path::PathBuf;

fn fixture(kind: &str, name: &str) -> Vec<u8> {
    let p: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "sip_torture",
        kind,
        &format!("{name}.dat"),
    ]
    .iter()
    .collect();
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn all(kind: &str) -> Vec<(String, Vec<u8>)> {
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "sip_torture", kind]
        .iter()
        .collect();
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "dat"))
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_valid_message_is_accepted() {
    let valid = all("valid");
    assert!(valid.len() >= 23, "fixtures missing: {}", valid.len());
    for (name, bytes) in valid {
        match verdict(&bytes, Framing::Datagram) {
            Verdict::Accept(_) => {}
            other => panic!("{name}: expected Accept, got {other:?}"),
        }
    }
}

fn expect_reject(name: &str, status: u16) -> Invalid {
    let bytes = fixture("invalid", name);
    match verdict(&bytes, Framing::Datagram) {
        Verdict::Reject { why, response } => {
            let text = String::from_utf8(response.clone()).unwrap();
            assert!(
                text.starts_with(&format!("SIP/2.0 {status} ")),
                "{name}: {text}"
            );
            // The error response must itself be valid SIP that echoes the request's Call-ID.
            let r = parse(&response).unwrap();
            assert!(matches!(r.start, StartLine::Response { .. }));
            let req = parse(&bytes).unwrap();
            assert_eq!(r.header(HeaderName::CallId), req.header(HeaderName::CallId));
            // (It echoes the request's own headers, so it need not pass check() itself.)
            why
        }
        other => panic!("{name}: expected Reject {status}, got {other:?}"),
    }
}

fn expect_drop(name: &str) {
    let bytes = fixture("invalid", name);
    match verdict(&bytes, Framing::Datagram) {
        Verdict::Drop(DropReason::InvalidResponse(_)) => {}
        other => panic!("{name}: expected the response to be dropped, got {other:?}"),
    }
}

#[test]
fn badinv01_extraneous_separators_get_400() {
    assert!(matches!(
        expect_reject("badinv01", 400),
        Invalid::BadHeader("Via", _)
    ));
}
#[test]
fn clerr_content_length_larger_than_body_gets_400() {
    assert_eq!(expect_reject("clerr", 400), Invalid::BodyTruncated);
}
#[test]
fn ncl_negative_content_length_gets_400() {
    assert_eq!(expect_reject("ncl", 400), Invalid::BadContentLength);
}
#[test]
fn scalar02_overlarge_request_scalars_get_400() {
    assert!(matches!(
        expect_reject("scalar02", 400),
        Invalid::BadHeader("CSeq", _)
    ));
}
#[test]
fn scalarlg_overlarge_response_scalars_are_dropped() {
    expect_drop("scalarlg");
}
#[test]
fn quotbal_unterminated_quote_gets_400() {
    assert!(matches!(
        expect_reject("quotbal", 400),
        Invalid::BadHeader("To", _)
    ));
}
#[test]
fn ltgtruri_bracketed_request_uri_gets_400() {
    assert!(matches!(
        expect_reject("ltgtruri", 400),
        Invalid::BadRequestUri(_)
    ));
}
#[test]
fn lwsruri_space_in_request_uri_gets_400() {
    assert_eq!(expect_reject("lwsruri", 400), Invalid::BadRequestLine);
}
#[test]
fn lwsstart_multiple_spaces_in_request_line_get_400() {
    assert_eq!(expect_reject("lwsstart", 400), Invalid::BadRequestLine);
}
#[test]
fn trws_trailing_spaces_in_request_line_get_400() {
    assert_eq!(expect_reject("trws", 400), Invalid::BadRequestLine);
}
#[test]
fn escruri_headers_in_request_uri_get_400() {
    assert_eq!(expect_reject("escruri", 400), Invalid::HeadersInRequestUri);
}
#[test]
fn baddate_non_gmt_date_gets_400() {
    assert_eq!(expect_reject("baddate", 400), Invalid::BadDate);
}
#[test]
fn regbadct_unbracketed_contact_with_headers_gets_400() {
    assert!(matches!(
        expect_reject("regbadct", 400),
        Invalid::BadHeader("Contact", _)
    ));
}
#[test]
fn badaspec_spaces_inside_angle_brackets_get_400() {
    assert!(matches!(
        expect_reject("badaspec", 400),
        Invalid::BadHeader("To", _)
    ));
}
#[test]
fn baddn_unquoted_comma_display_name_gets_400() {
    assert!(matches!(
        expect_reject("baddn", 400),
        Invalid::BadHeader("From", _)
    ));
}
#[test]
fn badvers_unknown_version_gets_505() {
    assert_eq!(expect_reject("badvers", 505), Invalid::VersionNotSupported);
}
#[test]
fn mismatch01_cseq_method_mismatch_gets_400() {
    assert_eq!(
        expect_reject("mismatch01", 400),
        Invalid::CSeqMethodMismatch
    );
}
#[test]
fn mismatch02_unknown_method_cseq_mismatch_gets_400() {
    assert_eq!(
        expect_reject("mismatch02", 400),
        Invalid::CSeqMethodMismatch
    );
}
#[test]
fn bigcode_overlarge_status_code_is_dropped() {
    expect_drop("bigcode");
}
#[test]
fn rfc5118_ipv6_without_brackets_gets_400() {
    assert!(matches!(
        expect_reject("ipv6-bad", 400),
        Invalid::BadRequestUri(_)
    ));
}
#[test]
fn rfc5118_ipv6_with_three_colons_gets_400() {
    assert!(matches!(
        expect_reject("ipv6-bug-abnf-3-colons", 400),
        Invalid::BadRequestUri(_)
    ));
}

#[test]
fn every_invalid_fixture_has_a_verdict_test() {
    let covered = [
        "badinv01",
        "clerr",
        "ncl",
        "scalar02",
        "scalarlg",
        "quotbal",
        "ltgtruri",
        "lwsruri",
        "lwsstart",
        "trws",
        "escruri",
        "baddate",
        "regbadct",
        "badaspec",
        "baddn",
        "badvers",
        "mismatch01",
        "mismatch02",
        "bigcode",
        "ipv6-bad",
        "ipv6-bug-abnf-3-colons",
    ];
    for (name, _) in all("invalid") {
        assert!(
            covered.contains(&name.as_str()),
            "{name} has no verdict test"
        );
    }
}

#[test]
fn wsinv_fields_are_read_through_folding_and_compact_forms() {
    let b = fixture("valid", "wsinv");
    let m = parse(&b).unwrap();
    let vias: Vec<_> = m
        .headers_named(HeaderName::Via)
        .flat_map(parse_vias)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].host, "192.0.2.2");
    assert_eq!(vias[1].transport, "TCP");
    assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    let to = parse_name_addr(m.header(HeaderName::To).unwrap()).unwrap();
    assert_eq!(to.tag(), Some("1918181833n"));
    let from = parse_name_addr(m.header(HeaderName::From).unwrap()).unwrap();
    assert_eq!(from.tag(), Some("98asjd8"));
    let c: Vec<_> = parse_contacts(m.header(HeaderName::Contact).unwrap()).collect();
    match c[0] {
        Ok(Contact::Addr(a)) => {
            assert_eq!(a.param("q"), Some(Some("0.33")));
            assert_eq!(a.param("secondparam"), Some(None));
        }
        ref other => panic!("{other:?}"),
    }
    assert_eq!(m.header(HeaderName::Subject), Some(""));
    assert_eq!(m.body.len(), 150);
}

#[test]
fn intmeth_extension_method_is_kept_verbatim() {
    let b = fixture("valid", "intmeth");
    let m = parse(&b).unwrap();
    assert_eq!(
        m.method(),
        Some("!interesting-Method0123456789_*+`.%indeed'~")
    );
    assert!(m.other_header("extensionHeader-!.%*+_`'~").is_some());
}

#[test]
fn dblreq_trailing_octets_are_ignored() {
    let b = fixture("valid", "dblreq");
    let m = parse(&b).unwrap();
    assert_eq!(m.method(), Some("REGISTER"));
    assert!(m.body.is_empty());
}

#[test]
fn esc02_escaped_method_is_an_extension_method() {
    let b = fixture("valid", "esc02");
    let m = parse(&b).unwrap();
    assert_eq!(m.method(), Some("RE%47IST%45R"));
    assert_eq!(m.headers_named(HeaderName::Contact).count(), 2);
}

#[test]
fn every_message_frames_identically_on_a_stream() {
    for (name, bytes) in all("valid") {
        if name == "dblreq" {
            continue;
        }
        for cut in [0, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                matches!(verdict(&bytes[..cut], Framing::Stream), Verdict::NeedMore),
                "{name} cut at {cut}"
            );
        }
        match verdict(&bytes, Framing::Stream) {
            Verdict::Accept(m) => assert_eq!(m.consumed, bytes.len(), "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn every_truncation_of_every_fixture_is_judged_without_panic() {
    for kind in ["valid", "invalid"] {
        for (_, bytes) in all(kind) {
            for cut in 0..bytes.len() {
                let _ = verdict(&bytes[..cut], Framing::Datagram);
                let _ = verdict(&bytes[..cut], Framing::Stream);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = verdict(&bytes, Framing::Datagram);
        let _ = verdict(&bytes, Framing::Stream);
    }

    #[test]
    fn mutated_fixtures_never_panic(idx in 0usize..23, pos in any::<usize>(), byte in any::<u8>()) {
        let valid = all("valid");
        let (_, mut b) = valid[idx % valid.len()].clone();
        let p = pos % b.len();
        b[p] = byte;
        let _ = verdict(&b, Framing::Datagram);
        let _ = verdict(&b, Framing::Stream);
    }
}

#[test]
fn header_line_without_colon_gets_400() {
    let b = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\n\
              To: <sip:a@b>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n1000001[authentication username= password=pw]\r\n\
              Content-Length: 0\r\n\r\n";
    match verdict(b, Framing::Datagram) {
        Verdict::Reject { why, .. } => assert_eq!(why, Invalid::BadHeaderLine),
        other => panic!("{other:?}"),
    }
}
