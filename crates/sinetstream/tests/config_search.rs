//! The config file search order. One test in its own binary: it changes the process's
//! environment and working directory.
// Edition 2024 makes env::set_var unsafe: it is sound here, this binary runs one test.
#![allow(unsafe_code)]

use sinetstream::config::{ConfigFile, ConfigSource};
use sinetstream::{Error, MessageWriter};

fn write(path: &std::path::Path, service: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("mkdir");
    }
    std::fs::write(
        path,
        format!("{service}:\n  type: memory\n  brokers: search\n"),
    )
    .expect("write");
}

fn found_service() -> String {
    let cf = ConfigFile::load(&ConfigSource::Search).expect("found");
    cf.service_names()[0].to_owned()
}

#[test]
fn search_order_env_url_then_cwd_then_home() {
    let root = tempfile::tempdir().expect("tmp");
    let home = root.path().join("home");
    let cwd = root.path().join("cwd");
    std::fs::create_dir_all(&cwd).expect("mkdir");
    std::fs::create_dir_all(&home).expect("mkdir");
    unsafe {
        std::env::set_var("HOME", &home);
        std::env::remove_var("SINETSTREAM_CONFIG_URL");
    }
    std::env::set_current_dir(&cwd).expect("cd");

    // Nothing anywhere: NoConfigError listing where it looked.
    let e = ConfigFile::load(&ConfigSource::Search).expect_err("none");
    assert!(matches!(e, Error::NoConfig(_)), "{e}");
    assert!(e.to_string().contains(".sinetstream_config.yml"), "{e}");

    // Home only.
    write(&home.join(".config/sinetstream/config.yml"), "from-home");
    assert_eq!(found_service(), "from-home");

    // The current directory beats home.
    write(&cwd.join(".sinetstream_config.yml"), "from-cwd");
    assert_eq!(found_service(), "from-cwd");

    // SINETSTREAM_CONFIG_URL beats both.
    let url_file = root.path().join("url config.yml");
    write(&url_file, "from-url");
    let url = format!("file://{}", url_file.display()).replace(' ', "%20");
    unsafe {
        std::env::set_var("SINETSTREAM_CONFIG_URL", &url);
    }
    assert_eq!(found_service(), "from-url");

    // A URL to a missing file falls back to the search.
    unsafe {
        std::env::set_var("SINETSTREAM_CONFIG_URL", "file:///nonexistent/x.yml");
    }
    assert_eq!(found_service(), "from-cwd");

    // An explicit file wins over the search; the first found is the only one read.
    let w = MessageWriter::builder("from-home")
        .config_file(home.join(".config/sinetstream/config.yml"))
        .topic("t")
        .build()
        .expect("explicit file");
    assert_eq!(w.service(), "from-home");
    let e = MessageWriter::builder("from-home")
        .topic("t")
        .build()
        .expect_err("cwd file has no such service");
    assert!(matches!(e, Error::NoService(_)), "{e}");

    // An unparsable file found by the search is reported, naming it.
    std::fs::write(cwd.join(".sinetstream_config.yml"), "a: [1,\n").expect("write");
    let e = ConfigFile::load(&ConfigSource::Search).expect_err("bad yaml");
    assert!(matches!(e, Error::NoConfig(_)), "{e}");
    assert!(e.to_string().contains(".sinetstream_config.yml"), "{e}");

    // Unsupported URL schemes are named.
    unsafe {
        std::env::set_var("SINETSTREAM_CONFIG_URL", "ftp://example/x.yml");
    }
    let e = ConfigFile::load(&ConfigSource::Search).expect_err("ftp");
    assert!(e.to_string().contains("ftp://"), "{e}");
}
