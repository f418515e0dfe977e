//! Translation of OpenSSL-style cipher lists into rustls cipher suites.
//!
//! SINETStream configurations come from the Python implementation, where
//! `tls.ciphers` is handed to OpenSSL's `SSL_CTX_set_cipher_list`. We accept
//! the same spellings where they make sense for rustls: OpenSSL names
//! (`ECDHE-RSA-AES128-GCM-SHA256`), IANA names
//! (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`, `TLS_AES_128_GCM_SHA256`), a few
//! OpenSSL group keywords (`HIGH`, `ECDHE+AESGCM`, ...) and exclusions
//! (`!aNULL`), separated by `:`, `,` or spaces.

use rustls::SupportedCipherSuite;
use rustls::crypto::ring::cipher_suite as cs;

use crate::error::NetError;

/// A suite that rustls' ring provider implements, with every name it goes by.
struct Known {
    suite: SupportedCipherSuite,
    names: &'static [&'static str],
}

const SUPPORTED: &[Known] = &[
    Known {
        suite: cs::TLS13_AES_256_GCM_SHA384,
        names: &["TLS_AES_256_GCM_SHA384", "TLS13_AES_256_GCM_SHA384"],
    },
    Known {
        suite: cs::TLS13_AES_128_GCM_SHA256,
        names: &["TLS_AES_128_GCM_SHA256", "TLS13_AES_128_GCM_SHA256"],
    },
    Known {
        suite: cs::TLS13_CHACHA20_POLY1305_SHA256,
        names: &[
            "TLS_CHACHA20_POLY1305_SHA256",
            "TLS13_CHACHA20_POLY1305_SHA256",
        ],
    },
    Known {
        suite: cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        names: &[
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        ],
    },
    Known {
        suite: cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        names: &[
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ],
    },
    Known {
        suite: cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        names: &[
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ],
    },
    Known {
        suite: cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        names: &[
            "ECDHE-RSA-AES256-GCM-SHA384",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        ],
    },
    Known {
        suite: cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        names: &[
            "ECDHE-RSA-AES128-GCM-SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        ],
    },
    Known {
        suite: cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        names: &[
            "ECDHE-RSA-CHACHA20-POLY1305",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        ],
    },
];

/// Real cipher names that rustls does not implement (CBC, static RSA, DHE,
/// CCM, ...). Lists copied from OpenSSL-based configs often contain them next
/// to supported ones, so they are skipped rather than rejected as typos.
const UNSUPPORTED: &[&str] = &[
    "TLS_AES_128_CCM_SHA256",
    "TLS_AES_128_CCM_8_SHA256",
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-RSA-AES256-SHA384",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-RSA-AES256-SHA",
    "ECDHE-ECDSA-AES128-CCM",
    "ECDHE-ECDSA-AES256-CCM",
    "DHE-RSA-AES128-GCM-SHA256",
    "DHE-RSA-AES256-GCM-SHA384",
    "DHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-SHA256",
    "DHE-RSA-AES256-SHA256",
    "DHE-RSA-AES128-SHA",
    "DHE-RSA-AES256-SHA",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-SHA256",
    "AES256-SHA256",
    "AES128-SHA",
    "AES256-SHA",
    "DES-CBC3-SHA",
    "RC4-SHA",
    "RC4-MD5",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_256_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
];

/// OpenSSL selection keywords we understand. Like OpenSSL, they select only
/// TLS 1.2 suites; TLS 1.3 suites are chosen by explicit name.
fn keyword_matches(word: &str, suite: &SupportedCipherSuite) -> Option<bool> {
    let name = format!("{:?}", suite.suite());
    let tls12 = matches!(suite, SupportedCipherSuite::Tls12(_));
    let m = match word {
        "DEFAULT" | "ALL" | "HIGH" | "SECURE" | "FIPS" | "TLSv1.2" => true,
        "ECDHE" | "EECDH" | "kECDHE" | "kEECDH" | "AEAD" | "SHA256" | "SHA384" => {
            // every rustls TLS 1.2 suite is ECDHE + AEAD; the hash keywords
            // pick by the PRF hash
            match word {
                "SHA256" => name.ends_with("SHA256"),
                "SHA384" => name.ends_with("SHA384"),
                _ => true,
            }
        }
        "ECDSA" | "aECDSA" => name.contains("_ECDSA_"),
        "RSA" | "aRSA" => name.contains("_RSA_"),
        "AESGCM" | "AES" => name.contains("_AES_"),
        "AES128" => name.contains("_AES_128_"),
        "AES256" => name.contains("_AES_256_"),
        "CHACHA20" => name.contains("CHACHA20"),
        _ => return None,
    };
    Some(tls12 && m)
}

fn is_supported_name(name: &str) -> Option<SupportedCipherSuite> {
    SUPPORTED
        .iter()
        .find(|k| k.names.iter().any(|n| n.eq_ignore_ascii_case(name)))
        .map(|k| k.suite)
}

fn is_known_unsupported(name: &str) -> bool {
    UNSUPPORTED.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// Every name this crate accepts for a rustls suite, for error messages.
fn supported_names() -> String {
    SUPPORTED
        .iter()
        .map(|k| k.names[0])
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which suites a term selects: `Ok(None)` for a name we know but cannot
/// offer, `Err(())` for a word we do not know.
fn select(term: &str) -> Result<Option<Vec<SupportedCipherSuite>>, ()> {
    if let Some(s) = is_supported_name(term) {
        return Ok(Some(vec![s]));
    }
    if is_known_unsupported(term) {
        return Ok(None);
    }
    // `A+B` is the intersection of A and B.
    let mut selected: Option<Vec<SupportedCipherSuite>> = None;
    for part in term.split('+') {
        let here: Vec<SupportedCipherSuite> = match is_supported_name(part) {
            Some(s) => vec![s],
            None => {
                let mut v = Vec::new();
                for k in SUPPORTED {
                    if keyword_matches(part, &k.suite).ok_or(())? {
                        v.push(k.suite);
                    }
                }
                v
            }
        };
        selected = Some(match selected {
            None => here,
            Some(prev) => prev
                .into_iter()
                .filter(|s| here.iter().any(|h| h.suite() == s.suite()))
                .collect(),
        });
    }
    Ok(selected)
}

/// Parses a cipher list into the suites to offer, in preference order.
///
/// TLS 1.2 suites are exactly those selected. TLS 1.3 suites are those named
/// explicitly, or all of them when none is named: OpenSSL's cipher list does
/// not touch TLS 1.3 either, so configurations written for Python behave the
/// same here.
///
/// Errors: a term that is neither a known cipher name nor a keyword (the
/// error lists every such term), or a list that selects nothing rustls can
/// offer.
pub(crate) fn parse_cipher_list(spec: &str) -> Result<Vec<SupportedCipherSuite>, NetError> {
    let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
    let mut excluded: Vec<SupportedCipherSuite> = Vec::new();
    let mut unknown: Vec<&str> = Vec::new();
    let mut skipped: Vec<&str> = Vec::new();

    for term in spec
        .split([':', ',', ' ', '\t', '\n'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        // Sorting and security-level directives have no rustls counterpart.
        if term.starts_with('@') {
            continue;
        }
        if let Some(rest) = term.strip_prefix(['!', '-']) {
            // Excluding something we never offer is harmless, so unknown
            // words here (`!aNULL`, `!MD5`, ...) are accepted.
            if let Ok(Some(v)) = select(rest) {
                excluded.extend(v);
            }
            continue;
        }
        let term = term.strip_prefix('+').unwrap_or(term);
        match select(term) {
            Ok(Some(v)) => {
                for s in v {
                    if !chosen.iter().any(|c| c.suite() == s.suite()) {
                        chosen.push(s);
                    }
                }
            }
            Ok(None) => skipped.push(term),
            Err(()) => unknown.push(term),
        }
    }

    if !unknown.is_empty() {
        let list = unknown
            .iter()
            .map(|u| format!("{u:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(NetError::tls_config(format!(
            "unknown cipher name(s) {list} in ciphers {spec:?}; supported: {}",
            supported_names()
        )));
    }
    if !skipped.is_empty() {
        tracing::debug!(
            ?skipped,
            "cipher names not implemented by rustls are ignored"
        );
    }

    chosen.retain(|s| !excluded.iter().any(|e| e.suite() == s.suite()));
    if chosen.is_empty() {
        return Err(NetError::tls_config(format!(
            "none of the ciphers {spec:?} is supported by rustls; supported: {}",
            supported_names()
        )));
    }
    let names_tls13 = chosen
        .iter()
        .any(|s| matches!(s, SupportedCipherSuite::Tls13(_)));
    if !names_tls13 {
        // TLS 1.3 suites go first, matching rustls' default preference.
        let mut all13: Vec<SupportedCipherSuite> = SUPPORTED
            .iter()
            .map(|k| k.suite)
            .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
            .filter(|s| !excluded.iter().any(|e| e.suite() == s.suite()))
            .collect();
        all13.append(&mut chosen);
        chosen = all13;
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[SupportedCipherSuite]) -> Vec<String> {
        v.iter().map(|s| format!("{:?}", s.suite())).collect()
    }

    fn tls12_names(spec: &str) -> Vec<String> {
        let v = parse_cipher_list(spec).expect("valid list");
        names(&v)
            .into_iter()
            .filter(|n| !n.starts_with("TLS13_"))
            .collect()
    }

    #[test]
    fn openssl_and_iana_names_map_to_the_same_suite() {
        assert_eq!(
            tls12_names("ECDHE-RSA-AES128-GCM-SHA256"),
            ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]
        );
        assert_eq!(
            tls12_names("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
            ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]
        );
        assert_eq!(
            tls12_names("ecdhe-ecdsa-chacha20-poly1305"),
            ["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"]
        );
    }

    #[test]
    fn tls12_only_list_keeps_all_tls13_suites() {
        let v = names(&parse_cipher_list("ECDHE-RSA-AES256-GCM-SHA384").expect("valid"));
        assert_eq!(
            v,
            [
                "TLS13_AES_256_GCM_SHA384",
                "TLS13_AES_128_GCM_SHA256",
                "TLS13_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
            ]
        );
    }

    #[test]
    fn tls13_names_restrict_tls13() {
        let v = names(&parse_cipher_list("TLS_AES_128_GCM_SHA256").expect("valid"));
        assert_eq!(v, ["TLS13_AES_128_GCM_SHA256"]);
        let v = names(
            &parse_cipher_list("TLS_CHACHA20_POLY1305_SHA256:ECDHE-RSA-AES128-GCM-SHA256")
                .expect("valid"),
        );
        assert_eq!(
            v,
            [
                "TLS13_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            ]
        );
    }

    #[test]
    fn separators_order_and_duplicates() {
        assert_eq!(
            tls12_names(
                "ECDHE-RSA-AES256-GCM-SHA384, ECDHE-RSA-AES128-GCM-SHA256 ECDHE-RSA-AES256-GCM-SHA384"
            ),
            [
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            ]
        );
    }

    #[test]
    fn unknown_names_are_reported_by_name() {
        let err = parse_cipher_list("ECDHE-RSA-AES128-GCM-SHA256:FOO-BAR:BAZ")
            .expect_err("unknown names");
        let msg = err.to_string();
        assert!(msg.contains("\"FOO-BAR\", \"BAZ\""), "{msg}");
        assert_eq!(err.tls_failure(), Some(crate::TlsFailure::Config));
    }

    #[test]
    fn only_unsupported_names_is_an_error() {
        let err = parse_cipher_list("AES128-SHA:DES-CBC3-SHA").expect_err("nothing usable");
        assert!(err.to_string().contains("none of the ciphers"), "{err}");
        assert!(parse_cipher_list("").is_err());
    }

    #[test]
    fn unsupported_names_are_skipped_next_to_supported_ones() {
        assert_eq!(
            tls12_names("AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256"),
            ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]
        );
    }

    #[test]
    fn keywords_and_exclusions() {
        let all12 = tls12_names("HIGH:!aNULL:!MD5:@STRENGTH");
        assert_eq!(all12.len(), 6);
        assert_eq!(
            tls12_names("ECDHE+AESGCM+aRSA"),
            [
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        assert_eq!(
            tls12_names("ECDHE+CHACHA20:!ECDSA"),
            ["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"]
        );
        let v = names(&parse_cipher_list("DEFAULT:!TLS_AES_256_GCM_SHA384").expect("valid"));
        assert!(!v.iter().any(|n| n == "TLS13_AES_256_GCM_SHA384"), "{v:?}");
        assert!(v.iter().any(|n| n == "TLS13_AES_128_GCM_SHA256"), "{v:?}");
    }
}
