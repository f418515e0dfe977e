//! The config loader fed arbitrary text: YAML parsing, format detection, service lookup and the
//! typed parameter getters must never panic, whatever the file holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sinetstream::config::{CommonTls, ConfigFile, Params, brokers::brokers};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cf) = ConfigFile::parse(text, "fuzz") else {
        return;
    };
    let _ = cf.service(None);
    for name in cf.service_names() {
        if let Ok((name, block)) = cf.service(Some(name)) {
            let p = Params::new(&name, &block);
            let _ = brokers(&p, 9092);
            let _ = CommonTls::from_params(&p);
            for key in ["consistency", "topic", "client_id", "receive_timeout_ms"] {
                let _ = p.str(key);
                let _ = p.u64(key);
                let _ = p.f64(key);
                let _ = p.str_list(key, true);
            }
            let _ = sinetstream::ValueType::from_params(&p);
            let _ = sinetstream::wire::WireConfig::from_params(&p);
        }
    }
});
