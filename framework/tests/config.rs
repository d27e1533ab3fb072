//! Config loading through the public API: layers, profiles, errors, secrets, template.

use std::fs;
use std::path::Path;

use serde::Deserialize;
use trestle::config::{template, ConfigError, Loader, Origin, Secret};
use trestle::Config;

#[derive(Debug, Config, Deserialize)]
struct Settings {
    /// Items per page.
    #[config(default = 10)]
    page_size: u32,
    /// Name shown in the UI.
    #[config(default = "demo")]
    name: String,
    /// Payment provider key.
    api_key: Secret<String>,
    /// Optional upstream URL.
    upstream: Option<String>,
    /// Mail settings.
    #[config(nested)]
    mail: Mail,
}

#[derive(Debug, Config, Deserialize)]
#[config(validate = Mail::check)]
struct Mail {
    /// SMTP port.
    #[config(default = 25, validate = nonzero)]
    port: u16,
    /// Sender address.
    #[config(default = "noreply@example.com")]
    from: String,
}

impl Mail {
    fn check(&self) -> Result<(), String> {
        if self.from.contains('@') {
            Ok(())
        } else {
            Err("mail.from must be an email address (has no @)".to_owned())
        }
    }
}

fn nonzero(n: &u16) -> Result<(), &'static str> {
    if *n == 0 {
        Err("must not be 0")
    } else {
        Ok(())
    }
}

/// A config folder with the given files, and a loader reading only it and `env`.
fn setup(files: &[(&str, &str)], env: &[(&str, &str)]) -> (tempfile::TempDir, Loader) {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("config")).unwrap();
    for (name, text) in files {
        fs::write(dir.path().join(name), text).unwrap();
    }
    let loader = Loader::new()
        .dir(dir.path().join("config"))
        .dotenv(Some(dir.path().join(".env")))
        .env_vars(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    (dir, loader)
}

const KEY: (&str, &str) = ("APP__API_KEY", "sk_live_SECRETVALUE");

#[test]
fn every_layer_overrides_the_one_below() {
    let defaults = [("config/default.toml", "")];
    let (_d, loader) = setup(&defaults, &[KEY]);
    assert_eq!(loader.load::<Settings>().unwrap().app.page_size, 10, "struct default");

    let files = [("config/default.toml", "page_size = 20\nname = \"from-default\"")];
    let (_d, loader) = setup(&files, &[KEY]);
    let l = loader.load::<Settings>().unwrap();
    assert_eq!((l.app.page_size, l.app.name.as_str()), (20, "from-default"), "default.toml");

    let files = [("config/default.toml", "page_size = 20"), ("config/development.toml", "page_size = 30")];
    let (_d, loader) = setup(&files, &[KEY]);
    assert_eq!(loader.load::<Settings>().unwrap().app.page_size, 30, "profile file");

    let files = [
        ("config/default.toml", "page_size = 20"),
        ("config/development.toml", "page_size = 30"),
        (".env", "APP__PAGE_SIZE=40\n"),
    ];
    let (_d, loader) = setup(&files, &[KEY]);
    assert_eq!(loader.load::<Settings>().unwrap().app.page_size, 40, ".env");

    let (_d, loader) = setup(&files, &[KEY, ("APP__PAGE_SIZE", "50")]);
    assert_eq!(loader.load::<Settings>().unwrap().app.page_size, 50, "environment");

    let (_d, loader) = setup(&files, &[KEY, ("APP__PAGE_SIZE", "50")]);
    assert_eq!(loader.set("page_size", "60").load::<Settings>().unwrap().app.page_size, 60, "code");
}

#[test]
fn framework_sections_share_the_tree() {
    let files = [("config/default.toml", "[server]\nport = 8081\nrequest_timeout = \"250ms\"\nbody_limit = \"64KiB\"")];
    let (_d, loader) = setup(&files, &[KEY, ("APP__SERVER__HOST", "0.0.0.0"), ("APP__MAIL__PORT", "587")]);
    let l = loader.load::<Settings>().unwrap();
    assert_eq!(l.server.port, 8081);
    assert_eq!(l.server.host, "0.0.0.0");
    assert_eq!(l.server.request_timeout, std::time::Duration::from_millis(250));
    assert_eq!(l.server.body_limit, 64 * 1024);
    assert_eq!(l.app.mail.port, 587, "nested app section from the environment");
}

#[test]
fn profile_comes_from_app_env() {
    let files = [("config/default.toml", "page_size = 20"), ("config/staging.toml", "page_size = 25")];
    let (_d, loader) = setup(&files, &[KEY, ("APP_ENV", "staging")]);
    let l = loader.load::<Settings>().unwrap();
    assert_eq!(l.profile, "staging");
    assert_eq!(l.app.page_size, 25);
    assert_eq!(l.files.len(), 2);

    let (_d, loader) = setup(&files, &[KEY, ("APP_ENV", "../etc")]);
    assert!(matches!(loader.load::<Settings>(), Err(ConfigError::BadProfile { .. })));
}

#[test]
fn dotenv_never_overrides_the_real_environment() {
    let files = [(".env", "APP__NAME=from-dotenv\nAPP__PAGE_SIZE=7\n")];
    let (_d, loader) = setup(&files, &[KEY, ("APP__NAME", "from-env")]);
    let l = loader.load::<Settings>().unwrap();
    assert_eq!(l.app.name, "from-env");
    assert_eq!(l.app.page_size, 7, "keys only in .env still apply");
}

#[test]
fn missing_required_key_names_key_and_env_var() {
    let (_d, loader) = setup(&[], &[]);
    let err = loader.load::<Settings>().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ConfigError::Missing { .. }), "{text}");
    assert!(text.contains("`api_key`"), "{text}");
    assert!(text.contains("APP__API_KEY"), "{text}");
    assert!(text.contains("config/default.toml"), "{text}");
}

#[test]
fn serde_defaults_are_not_required() {
    #[derive(Debug, Config, Deserialize)]
    struct WithSerdeDefault {
        #[serde(default)]
        retries: u32,
    }
    let (_d, loader) = setup(&[], &[]);
    assert_eq!(loader.load::<WithSerdeDefault>().unwrap().app.retries, 0);
}

#[test]
fn optional_keys_may_be_absent() {
    let (_d, loader) = setup(&[], &[KEY]);
    assert_eq!(loader.load::<Settings>().unwrap().app.upstream, None);
}

#[test]
fn wrong_type_in_a_file_names_key_file_line_and_type() {
    let files = [("config/default.toml", "name = \"x\"\n\npage_size = \"lots\"\n")];
    let (d, loader) = setup(&files, &[KEY]);
    let err = loader.load::<Settings>().unwrap_err();
    let text = err.to_string();
    match &err {
        ConfigError::WrongType { key, origin, .. } => {
            assert_eq!(key, "page_size");
            assert_eq!(origin, &Origin::File { path: d.path().join("config/default.toml"), line: 3 });
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
    assert!(text.contains("default.toml line 3"), "{text}");
    assert!(text.contains("expected"), "{text}");
    assert!(text.contains("APP__PAGE_SIZE"), "{text}");
    assert!(!text.contains("lots"), "values are not echoed: {text}");
}

#[test]
fn wrong_type_in_the_environment_names_the_variable() {
    let (_d, loader) = setup(&[], &[KEY, ("APP__SERVER__PORT", "eighty")]);
    let text = loader.load::<Settings>().unwrap_err().to_string();
    assert!(text.contains("`server.port`"), "{text}");
    assert!(text.contains("environment variable APP__SERVER__PORT"), "{text}");
    assert!(!text.contains("eighty"), "{text}");
}

#[test]
fn bad_duration_names_the_key_and_the_accepted_forms() {
    let (_d, loader) = setup(&[], &[KEY, ("APP__SERVER__REQUEST_TIMEOUT", "soon")]);
    let text = loader.load::<Settings>().unwrap_err().to_string();
    assert!(text.contains("`server.request_timeout`"), "{text}");
    assert!(text.contains("30s"), "{text}");
}

#[test]
fn malformed_toml_names_file_and_line() {
    let files = [("config/default.toml", "page_size = 20\n[server\nport = 1\n")];
    let (_d, loader) = setup(&files, &[KEY]);
    match loader.load::<Settings>().unwrap_err() {
        ConfigError::Parse { path, line, .. } => {
            assert!(path.ends_with("config/default.toml"));
            assert_eq!(line, 2);
        }
        other => panic!("expected Parse, got {other:?}"),
    }
}

#[test]
fn malformed_toml_does_not_echo_the_line() {
    let files = [("config/default.toml", "api_key = \"sk_live_LEAK\n")];
    let (_d, loader) = setup(&files, &[]);
    let text = loader.load::<Settings>().unwrap_err().to_string();
    assert!(text.contains("line 1"), "{text}");
    assert!(!text.contains("LEAK"), "{text}");
}

#[test]
fn malformed_dotenv_names_the_line_only() {
    let files = [(".env", "APP__NAME=ok\nAPP__API_KEY sk_live_LEAK\n")];
    let (_d, loader) = setup(&files, &[]);
    let err = loader.load::<Settings>().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ConfigError::DotEnv { line: 2, .. }), "{text}");
    assert!(!text.contains("LEAK"), "{text}");
}

#[test]
fn unknown_keys_get_a_suggestion_and_warn_outside_production() {
    let files = [("config/default.toml", "page_sise = 3\n[server]\nprot = 9\n")];
    let (_d, loader) = setup(&files, &[KEY, ("APP__MAIL__FORM", "a@b.c")]);
    let l = loader.load::<Settings>().unwrap();
    let all = l.warnings.join("\n");
    assert!(all.contains("unknown config key `page_sise`") && all.contains("did you mean `page_size`?"), "{all}");
    assert!(all.contains("`server.prot`") && all.contains("`server.port`"), "{all}");
    assert!(all.contains("APP__MAIL__FORM") && all.contains("`mail.from`"), "{all}");
    assert_eq!(l.warnings.len(), 3);
}

#[test]
fn unknown_keys_are_errors_in_production() {
    let files = [("config/default.toml", "page_sise = 3\n")];
    let (_d, loader) = setup(&files, &[KEY, ("APP_ENV", "production")]);
    let err = loader.load::<Settings>().unwrap_err();
    assert!(matches!(err, ConfigError::Unknown { .. }), "{err}");
    assert!(err.to_string().contains("default.toml line 1"), "{err}");
}

#[test]
fn an_unknown_key_set_in_code_is_an_error_in_every_profile() {
    let (_d, loader) = setup(&[], &[KEY]);
    let err = loader.set("sever.port", "0").load::<Settings>().unwrap_err();
    assert!(matches!(err, ConfigError::Unknown { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("`sever.port`") && text.contains("did you mean `server.port`?"), "{text}");
}

#[test]
fn validation_hooks_run_and_name_the_key() {
    let (_d, loader) = setup(&[], &[KEY, ("APP__MAIL__PORT", "0"), ("APP__MAIL__FROM", "nobody")]);
    let err = loader.load::<Settings>().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("config key `mail.port` from environment variable APP__MAIL__PORT: must not be 0"), "{text}");
    assert!(text.contains("mail.from must be an email address"), "{text}");
}

#[test]
fn cors_credentials_with_any_origin_is_rejected() {
    let (_d, loader) = setup(
        &[],
        &[KEY, ("APP__SERVER__CORS__ALLOWED_ORIGINS", "*"), ("APP__SERVER__CORS__ALLOW_CREDENTIALS", "true")],
    );
    let text = loader.load::<Settings>().unwrap_err().to_string();
    assert!(text.contains("server.cors"), "{text}");
    assert!(text.contains("allow_credentials"), "{text}");
}

#[test]
fn secrets_are_never_printed() {
    let (_d, loader) = setup(&[], &[KEY]);
    let l = loader.load::<Settings>().unwrap();
    assert_eq!(l.app.api_key.expose(), "sk_live_SECRETVALUE");
    let shown = format!("{:?} {:#?} {}", l.app, l, l.app.api_key);
    assert!(!shown.contains("SECRETVALUE"), "{shown}");

    #[derive(Debug, Config, Deserialize)]
    struct Numeric {
        #[allow(dead_code)]
        pin: Secret<u32>,
    }
    let (_d, loader) = setup(&[], &[("APP__PIN", "hunter2")]);
    let text = loader.load::<Numeric>().unwrap_err().to_string();
    assert!(text.contains("`pin`") && !text.contains("hunter2"), "{text}");
}

#[test]
fn missing_config_dir_from_env_is_an_error() {
    let loader = Loader::new().dotenv(None).env_vars([("APP_CONFIG_DIR", "/no/such/dir"), KEY]);
    let text = loader.load::<Settings>().unwrap_err().to_string();
    assert!(text.contains("/no/such/dir") && text.contains("APP_CONFIG_DIR"), "{text}");
}

#[test]
fn template_lists_every_key_with_default_env_var_and_doc() {
    let text = template::<Settings>("APP");
    for expected in [
        "# Items per page.\n# env: APP__PAGE_SIZE\npage_size = 10",
        "# env: APP__API_KEY\n# api_key = \"...\"  (secret",
        "# upstream =   (Option<String>, optional)",
        "[mail]\n",
        "# env: APP__MAIL__PORT\nport = 25",
        "[server]\n",
        "request_timeout = \"30s\"",
        "[server.cors]\n",
        "[telemetry]\n",
        "format = \"auto\"",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    // The template is itself a valid config file that loads to the defaults.
    let dir = tempfile::tempdir().unwrap();
    fs::write(Path::new(dir.path()).join("default.toml"), &text).unwrap();
    let l = Loader::new().dir(dir.path()).dotenv(None).env_vars([KEY]).load::<Settings>().unwrap();
    assert_eq!(l.app.page_size, 10);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn map_valued_required_keys_count_as_present() {
    #[derive(Debug, Config, Deserialize)]
    struct WithMap {
        /// Feature flags by name.
        flags: std::collections::HashMap<String, bool>,
    }
    let (_d, loader) = setup(&[("config/default.toml", "[flags]\nbeta = true\n")], &[]);
    let l = loader.load::<WithMap>().unwrap();
    assert!(l.app.flags["beta"]);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn loader_debug_shows_no_values() {
    let loader = Loader::new()
        .env_vars([("APP__AUTH__JWT__SECRET", "sk_live_SECRETVALUE")])
        .set("database.url", "postgres://u:pw_SECRET@h/db");
    let shown = format!("{loader:?}");
    assert!(shown.contains("APP__AUTH__JWT__SECRET") && shown.contains("database.url"), "{shown}");
    assert!(!shown.contains("SECRETVALUE") && !shown.contains("pw_SECRET"), "{shown}");
}

#[test]
fn optional_secrets_are_redacted_in_the_template() {
    let text = template::<trestle::config::NoConfig>("APP");
    assert!(text.contains("# secret = \"...\"  (secret"), "{text}");
}

#[test]
fn a_section_check_names_the_section() {
    let (_d, loader) = setup(
        &[],
        &[KEY, ("APP__SERVER__CORS__ALLOWED_ORIGINS", "*"), ("APP__SERVER__CORS__ALLOW_CREDENTIALS", "true")],
    );
    let text = loader.load::<Settings>().unwrap_err().to_string();
    assert!(text.contains("config key `server.cors`"), "{text}");
}

#[derive(Debug, Config, Deserialize)]
struct NeedsDb {
    #[config(nested)]
    database: Db,
}

#[derive(Debug, Config, Deserialize)]
struct Db {
    /// Where the data lives.
    #[allow(dead_code)]
    url: String,
}

#[test]
fn custom_prefix_renames_every_variable_read() {
    let files = [("config/staging.toml", "[server]\nport = 8082\n")];
    let (_d, loader) = setup(
        &files,
        &[("SHOP_ENV", "staging"), ("SHOP__DATABASE__URL", "sqlite::memory:"), ("APP__SERVER__HOST", "0.0.0.0")],
    );
    let l = loader.env_prefix("SHOP").load::<NeedsDb>().unwrap();
    assert_eq!(l.profile, "staging", "SHOP_ENV chooses the profile");
    assert_eq!(l.server.port, 8082);
    assert_eq!(l.server.host, "127.0.0.1", "APP__ variables are not read under another prefix");
    assert_eq!(l.env.var("server.port"), "SHOP__SERVER__PORT");

    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("default.toml"), "[server]\nport = 8083\n").unwrap();
    let l = Loader::new()
        .env_prefix("SHOP")
        .dotenv(None)
        .env_vars([("SHOP_CONFIG_DIR", dir.path().to_str().unwrap()), ("SHOP__DATABASE__URL", "x")])
        .load::<NeedsDb>()
        .unwrap();
    assert_eq!(l.server.port, 8083, "SHOP_CONFIG_DIR names the folder");
}

#[test]
fn custom_prefix_names_its_variables_in_messages() {
    let (_d, loader) = setup(&[], &[("APP__DATABASE__URL", "ignored")]);
    let text = loader.env_prefix("SHOP").load::<NeedsDb>().unwrap_err().to_string();
    assert!(text.contains("`database.url`") && text.contains("SHOP__DATABASE__URL"), "{text}");
    assert!(!text.contains("APP__"), "{text}");

    let (_d, loader) = setup(&[], &[("SHOP_ENV", "../etc")]);
    let text = loader.env_prefix("SHOP").load::<NeedsDb>().unwrap_err().to_string();
    assert!(text.contains("SHOP_ENV=\"../etc\""), "{text}");

    let loader = Loader::new().env_prefix("SHOP").dotenv(None).env_vars([("SHOP_CONFIG_DIR", "/no/such/dir")]);
    let text = loader.load::<NeedsDb>().unwrap_err().to_string();
    assert!(text.contains("SHOP_CONFIG_DIR is /no/such/dir") && text.contains("unset SHOP_CONFIG_DIR"), "{text}");

    let (_d, loader) = setup(&[], &[("SHOP__DATABASE__URL", "x"), ("SHOP__SERVER__PORT", "eighty")]);
    let text = loader.env_prefix("SHOP").load::<NeedsDb>().unwrap_err().to_string();
    assert!(text.contains("environment variable SHOP__SERVER__PORT"), "{text}");

    let files = [("config/default.toml", "[server]\nport = \"eighty\"\n")];
    let (_d, loader) = setup(&files, &[("SHOP__DATABASE__URL", "x")]);
    let text = loader.env_prefix("SHOP").load::<NeedsDb>().unwrap_err().to_string();
    assert!(text.contains("override it with SHOP__SERVER__PORT"), "{text}");
}

#[test]
fn profile_from_dotenv_is_honoured_everywhere() {
    let files = [("config/staging.toml", "page_size = 25\n"), (".env", "APP_ENV=staging\n")];
    let (_d, loader) = setup(&files, &[KEY]);
    assert_eq!(loader.resolved_profile().unwrap(), "staging");
    let l = loader.load::<Settings>().unwrap();
    assert_eq!((l.profile.as_str(), l.app.page_size), ("staging", 25));

    let (_d, loader) = setup(&files, &[KEY, ("APP_ENV", "production")]);
    assert_eq!(loader.resolved_profile().unwrap(), "production", "the real environment wins over .env");
}

#[test]
fn section_defaults_are_the_documented_values() {
    use std::time::Duration;
    let server = trestle::config::ServerConfig::default();
    assert_eq!((server.host.as_str(), server.port), ("127.0.0.1", 3000));
    assert_eq!(server.request_timeout, Duration::from_secs(30));
    assert_eq!(server.body_limit, 2 << 20);
    assert_eq!(server.max_connections, 10000);
    assert_eq!(server.header_read_timeout, Duration::from_secs(30));
    assert_eq!(server.keep_alive_timeout, Duration::from_secs(75));
    assert_eq!(server.body_read_timeout, Duration::from_secs(10));
    assert_eq!(server.backlog, 1024);
    assert_eq!(server.cors.allowed_methods, ["GET", "POST", "PUT", "PATCH", "DELETE"]);
    assert!(server.cors.allowed_origins.is_empty());
    let db = trestle::config::DatabaseConfig::default();
    assert!(db.url.is_none());
    assert_eq!((db.max_connections, db.journal_mode.as_str()), (10, "wal"));
    assert_eq!(db.idle_timeout, Duration::from_secs(600));
    let telemetry = trestle::config::TelemetryConfig::default();
    assert_eq!(telemetry.format, trestle::config::LogFormat::Auto);
    assert_eq!(telemetry.filter, "info");
    assert_eq!(telemetry.otlp.protocol, trestle::config::OtlpProtocol::Grpc);
    assert_eq!(telemetry.otlp.sample_ratio, 1.0);
    let jwt = trestle::config::JwtConfig::default();
    assert_eq!((jwt.algorithm.as_str(), jwt.ttl), ("HS256", Duration::from_secs(3600)));
}

#[test]
fn bad_cors_entries_are_config_errors_naming_key_and_origin() {
    let files = [(
        "config/default.toml",
        "[server.cors]\nallowed_origins = [\"https://a.com\", \"https://b.com\\u0001\"]\nallowed_methods = [\"get\", \"GE T\"]\n",
    )];
    let (d, loader) = setup(&files, &[KEY, ("APP__SERVER__CORS__ALLOWED_HEADERS", "content-type,x bad")]);
    let err = loader.load::<Settings>().unwrap_err();
    let text = err.to_string();
    let file = d.path().join("config/default.toml").display().to_string();
    assert!(
        text.contains(&format!(
            "config key `server.cors.allowed_origins` from {file} line 2: entry 2 is not a valid origin"
        )),
        "{text}"
    );
    assert!(text.contains("`server.cors.allowed_methods`") && text.contains("entry 2 is not an HTTP method"), "{text}");
    assert!(
        text.contains("`server.cors.allowed_headers` from environment variable APP__SERVER__CORS__ALLOWED_HEADERS"),
        "{text}"
    );
    assert!(!text.contains("x bad") && !text.contains("GE T"), "values are not echoed: {text}");
}

#[test]
fn wrong_type_of_a_secret_never_prints_it() {
    #[derive(Debug, Config, Deserialize)]
    struct Numeric {
        #[allow(dead_code)]
        pin: Secret<u32>,
    }
    let files = [("config/default.toml", "pin = \"hunter2\"\n")];
    let (_d, loader) = setup(&files, &[]);
    let err = loader.load::<Numeric>().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ConfigError::WrongType { .. }), "{text}");
    assert!(text.contains("`pin`") && text.contains("default.toml line 1") && text.contains("APP__PIN"), "{text}");
    assert!(text.contains("found a string") && !text.contains("hunter2"), "{text}");

    let (_d, loader) = setup(&[], &[("APP__PIN", "99999999999")]);
    let text = loader.load::<Numeric>().unwrap_err().to_string();
    assert!(text.contains("environment variable APP__PIN") && !text.contains("99999999999"), "{text}");
}

#[test]
fn text_from_the_environment_reads_as_any_type() {
    let (_d, loader) = setup(
        &[],
        &[
            KEY,
            ("APP__SERVER__COMPRESSION", "false"),
            ("APP__TELEMETRY__OTLP__SAMPLE_RATIO", "0.25"),
            ("APP__SERVER__SHUTDOWN_TIMEOUT", "1m30s"),
            ("APP__SERVER__CORS__ALLOWED_ORIGINS", "https://a.com, https://b.com"),
            ("APP__TELEMETRY__METRICS__PORT", "9100"),
        ],
    );
    let l = loader.load::<Settings>().unwrap();
    assert!(!l.server.compression);
    assert_eq!(l.telemetry.otlp.sample_ratio, 0.25);
    assert_eq!(l.server.shutdown_timeout, std::time::Duration::from_secs(90));
    assert_eq!(l.server.cors.allowed_origins, ["https://a.com", "https://b.com"]);
    assert_eq!(l.telemetry.metrics.port, Some(9100));
}

#[test]
fn every_problem_is_reported_at_once() {
    // Two values of the wrong type, one that fails validation, a missing key and a typo: one
    // load names them all, each with its origin, and nothing twice.
    let files =
        [("config/default.toml", "page_size = \"many\"\npage_sise = 3\n\n[mail]\nport = 0\nfrom = \"nobody\"\n")];
    let (_d, loader) = setup(&files, &[("APP__SERVER__PORT", "eighty"), ("APP_ENV", "production")]);
    let err = loader.load::<Settings>().unwrap_err();
    let text = err.to_string();
    let ConfigError::Several(problems) = &err else { panic!("several problems expected: {text}") };
    let keys: Vec<&str> = problems.iter().filter_map(|p| p.key()).collect();
    for key in ["api_key", "page_sise", "page_size", "server.port", "mail.port", "mail"] {
        assert_eq!(keys.iter().filter(|k| **k == key).count(), 1, "{key} once in: {text}");
    }
    assert!(text.contains("default.toml line 1") && text.contains("APP__SERVER__PORT"), "{text}");
    assert!(text.contains("did you mean `page_size`"), "{text}");
}

#[test]
fn a_missing_number_and_a_bad_option_do_not_hide_later_problems() {
    #[derive(Debug, Config, Deserialize)]
    #[allow(dead_code)] // only loaded, to see what fails
    struct Tuning {
        /// Worker threads (required).
        workers: u32,
        /// Optional cap.
        cap: Option<u16>,
        /// Must be positive.
        #[config(default = 1, validate = positive)]
        batch: u32,
        /// A section after them.
        #[config(nested)]
        mail: Mail,
    }
    fn positive(n: &u32) -> Result<(), &'static str> {
        if *n == 0 {
            Err("must be at least 1")
        } else {
            Ok(())
        }
    }
    let files = [("config/default.toml", "cap = \"lots\"\nbatch = 0\n\n[mail]\nport = \"smtp\"\n")];
    let (_d, loader) = setup(&files, &[]);
    let text = loader.load::<Tuning>().unwrap_err().to_string();
    for key in ["`workers`", "`cap`", "`batch`", "`mail.port`"] {
        assert_eq!(text.matches(key).count(), 1, "{key} once in: {text}");
    }
    assert!(!text.contains("mail.port` from the built-in default"), "no problem blamed on a stand-in: {text}");
}

#[test]
fn a_file_variable_reads_a_mounted_secret() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("api_key");
    fs::write(&secret, "sk_from_a_file\n").unwrap();
    let var = ("APP__API_KEY_FILE", secret.to_str().unwrap());
    let (_d, loader) = setup(&[], &[var]);
    let loaded = loader.load::<Settings>().unwrap();
    assert_eq!(loaded.app.api_key.expose(), "sk_from_a_file", "the final newline is not part of it");

    // Both the value and the file: which one is meant is unclear, so neither is taken.
    let (_d, loader) = setup(&[], &[var, KEY]);
    let text = loader.load::<Settings>().unwrap_err().to_string();
    assert!(
        text.contains("APP__API_KEY_FILE") && text.contains("APP__API_KEY") && text.contains("unset one"),
        "{text}"
    );
    assert!(!text.contains("sk_from_a_file") && !text.contains("SECRETVALUE"), "{text}");

    let (_d, loader) = setup(&[], &[("APP__API_KEY_FILE", "/run/secrets/nowhere")]);
    let text = loader.load::<Settings>().unwrap_err().to_string();
    assert!(text.contains("APP__API_KEY_FILE names /run/secrets/nowhere, which cannot be read"), "{text}");
}

#[test]
fn a_key_that_ends_in_file_is_itself_not_an_indirection() {
    // `auth.jwt.public_key_file` is a key of its own: its variable sets the path.
    let (_d, loader) = setup(&[], &[KEY, ("APP__AUTH__JWT__PUBLIC_KEY_FILE", "/keys/public.pem")]);
    let loaded = loader.load::<Settings>().unwrap();
    assert_eq!(loaded.auth.jwt.public_key_file.as_deref(), Some(std::path::Path::new("/keys/public.pem")));
}

#[test]
fn a_file_variable_fills_one_entry_of_a_map_and_the_environment_beats_dotenv() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("otlp_token");
    fs::write(&token, "Bearer from-a-file").unwrap();
    let (_d, loader) =
        setup(&[], &[KEY, ("APP__TELEMETRY__OTLP__HEADERS__AUTHORIZATION_FILE", token.to_str().unwrap())]);
    let loaded = loader.load::<Settings>().unwrap();
    let headers = &loaded.telemetry.otlp.headers;
    assert_eq!(headers.get("authorization").map(|v| v.expose().as_str()), Some("Bearer from-a-file"));
    assert!(!headers.contains_key("authorization_file"), "{:?}", headers.keys().collect::<Vec<_>>());

    // The real environment's value wins over a `_FILE` in `.env`, as over any `.env` line.
    let secret = dir.path().join("api_key");
    fs::write(&secret, "from-dotenv-file").unwrap();
    let (d, loader) = setup(&[], &[KEY]);
    fs::write(d.path().join(".env"), format!("APP__API_KEY_FILE={}\n", secret.display())).unwrap();
    assert_eq!(loader.load::<Settings>().unwrap().app.api_key.expose(), "sk_live_SECRETVALUE");
}

#[test]
fn an_unreadable_secret_file_is_reported_with_the_other_problems() {
    let (_d, loader) = setup(&[], &[("APP__API_KEY_FILE", "/run/secrets/nowhere"), ("APP__SERVER__PORT", "eighty")]);
    let text = loader.load::<Settings>().unwrap_err().to_string();
    assert!(text.contains("/run/secrets/nowhere") && text.contains("server.port"), "{text}");
    // A value that is not a path may be the secret itself: it is not echoed.
    let (_d, loader) = setup(&[], &[("APP__API_KEY_FILE", "sk_live_pasted_by_mistake")]);
    let text = loader.load::<Settings>().unwrap_err().to_string();
    assert!(!text.contains("sk_live_pasted_by_mistake") && text.contains("APP__API_KEY_FILE"), "{text}");
}
