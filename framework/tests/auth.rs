//! JWT auth through the public API: every hostile token is a clean 401, keys from config,
//! issuing, scopes, and password hashing.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use trestle::auth::{password, Auth, Jwt};
use trestle::axum::routing::{get, post};
use trestle::config::{JwtConfig, NoConfig, Secret};
use trestle::prelude::*;
use trestle::testing::{TestApp, TestResponse};
use trestle::Context;

const SECRET: &str = "0123456789abcdef0123456789abcdef-test-secret";
const OTHER_SECRET: &str = "fedcba9876543210fedcba9876543210-other-secret";

fn keys(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/keys").join(name)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn b64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[derive(Debug, Deserialize, Serialize)]
struct Extra {
    name: String,
}

async fn me(auth: Auth<Extra>) -> String {
    format!("{} {}", auth.sub, auth.extra.name)
}

async fn maybe(auth: Option<Auth>) -> String {
    auth.map_or_else(|| "anonymous".to_owned(), |a| a.sub.clone())
}

async fn admin(auth: Auth) -> trestle::Result<&'static str> {
    auth.require_scope("admin")?;
    Ok("welcome, admin")
}

async fn login(State(ctx): State<Context<NoConfig>>) -> trestle::Result<String> {
    Ok(ctx.jwt().issue("u1", Extra { name: "ada".into() })?)
}

fn app() -> trestle::App<NoConfig, Context<NoConfig>> {
    trestle::App::new()
        .auth()
        .configure(|c| {
            c.set("auth.jwt.secret", SECRET)
                .set("auth.jwt.issuer", "https://issuer.test")
                .set("auth.jwt.audience", "trestle-tests")
        })
        .state(|ctx| ctx.clone())
        .routes(
            Router::new()
                .route("/me", get(me))
                .route("/maybe", get(maybe))
                .route("/admin", get(admin))
                .route("/login", post(login)),
        )
}

async fn test_app() -> TestApp {
    TestApp::new(app()).await.unwrap()
}

fn claims(overrides: serde_json::Value) -> serde_json::Value {
    let mut base = json!({
        "sub": "u1", "name": "ada", "iat": now(), "exp": now() + 600,
        "iss": "https://issuer.test", "aud": "trestle-tests",
    });
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

fn hs256(claims: &serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

/// A 401 with a problem body and the challenge; `invalid` says whether a token was sent.
#[track_caller]
fn assert_401(res: &TestResponse, invalid: bool) {
    assert_eq!(res.status(), 401, "body: {}", res.text());
    let problem = res.problem();
    assert_eq!(problem.status, 401);
    let challenge = res.header("www-authenticate").expect("WWW-Authenticate");
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert_eq!(challenge.contains("error=\"invalid_token\""), invalid, "{challenge}");
}

#[trestle::test]
async fn a_valid_token_is_accepted() {
    let app = test_app().await;
    let res = app.get("/me").bearer(&hs256(&claims(json!({})), SECRET)).send().await;
    assert_eq!(res.text(), "u1 ada");
}

#[trestle::test]
async fn no_credentials_is_401_without_error_code() {
    assert_401(&test_app().await.get("/me").send().await, false);
}

#[trestle::test]
async fn wrong_scheme_is_401() {
    let res = test_app().await.get("/me").header("authorization", "Basic dXNlcjpwYXNz").send().await;
    assert_401(&res, false);
}

#[trestle::test]
async fn scheme_is_case_insensitive() {
    let token = hs256(&claims(json!({})), SECRET);
    let res = test_app().await.get("/me").header("authorization", format!("bEaReR {token}")).send().await;
    assert_eq!(res.status(), 200);
}

#[trestle::test]
async fn hostile_tokens_are_401() {
    let app = test_app().await;
    let good = hs256(&claims(json!({})), SECRET);
    let (head, rest) = good.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let rsa_public = std::fs::read(keys("rsa_public.pem")).unwrap();
    let cases: Vec<(&str, String)> = vec![
        ("empty token", String::new()),
        (
            "alg none",
            format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), b64(claims(json!({})).to_string().as_bytes())),
        ),
        ("expired", hs256(&claims(json!({ "exp": now() - 120 })), SECRET)),
        ("nbf in the future", hs256(&claims(json!({ "nbf": now() + 300 })), SECRET)),
        ("wrong iss", hs256(&claims(json!({ "iss": "https://evil.test" })), SECRET)),
        ("no iss", hs256(&claims(json!({ "iss": null })), SECRET)),
        ("wrong aud", hs256(&claims(json!({ "aud": "another-service" })), SECRET)),
        ("no exp", hs256(&claims(json!({ "exp": null })), SECRET)),
        ("exp as a string", hs256(&claims(json!({ "exp": "never" })), SECRET)),
        (
            "tampered payload",
            format!("{head}.{}.{signature}", b64(claims(json!({ "sub": "admin" })).to_string().as_bytes())),
        ),
        ("signature stripped", format!("{head}.{}.", rest.split_once('.').unwrap().0)),
        ("three random base64 segments", format!("{}.{}.{}", b64(b"qwertyuiop"), b64(b"asdfghjkl"), b64(b"zxcvbnm"))),
        ("non-base64 garbage", "!!!not*a*token%%%".to_owned()),
        ("100 KB token", format!("{head}.{}.{signature}", "A".repeat(100 * 1024))),
        ("signed with another secret", hs256(&claims(json!({})), OTHER_SECRET)),
        ("HS256 with the RSA public key as secret", {
            let key = EncodingKey::from_secret(&rsa_public);
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(json!({})), &key).unwrap()
        }),
        ("critical header extension", {
            let mut header = Header::new(Algorithm::HS256);
            header.crit = Some(vec!["exp-v2".into()]);
            jsonwebtoken::encode(&header, &claims(json!({})), &EncodingKey::from_secret(SECRET.as_bytes())).unwrap()
        }),
    ];
    for (name, token) in cases {
        let res = app.get("/me").header("authorization", format!("Bearer {token}")).send().await;
        assert_eq!(res.status(), 401, "{name}: {}", res.text());
        assert_401(&res, true);
        assert!(!res.text().contains(&token[..token.len().min(40)]) || token.is_empty(), "{name}: token echoed");
    }
}

#[trestle::test]
async fn oversized_tokens_are_refused_before_decoding() {
    let res = test_app().await.get("/me").bearer(&"x".repeat(100 * 1024)).send().await;
    assert_401(&res, true);
    assert!(res.problem().detail.unwrap().contains("too long"));
}

#[trestle::test]
async fn algorithm_confusion_with_the_rsa_public_key_is_401() {
    let app = TestApp::new(
        trestle::App::new()
            .auth()
            .configure(|c| {
                c.set("auth.jwt.algorithm", "RS256")
                    .set("auth.jwt.public_key_file", keys("rsa_public.pem").display().to_string())
            })
            .state(|ctx| ctx.clone())
            .routes(Router::new().route("/maybe", get(maybe))),
    )
    .await
    .unwrap();
    let rsa_public = std::fs::read(keys("rsa_public.pem")).unwrap();
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(json!({})),
        &EncodingKey::from_secret(&rsa_public),
    )
    .unwrap();
    assert_401(&app.get("/maybe").bearer(&forged).send().await, true);
}

#[trestle::test]
async fn expiry_within_the_leeway_is_accepted() {
    let res = test_app().await.get("/me").bearer(&hs256(&claims(json!({ "exp": now() - 10 })), SECRET)).send().await;
    assert_eq!(res.status(), 200, "{}", res.text());
}

#[trestle::test]
async fn optional_auth_is_none_without_token_and_401_with_a_bad_one() {
    let app = test_app().await;
    assert_eq!(app.get("/maybe").send().await.text(), "anonymous");
    assert_eq!(app.get("/maybe").bearer(&hs256(&claims(json!({})), SECRET)).send().await.text(), "u1");
    assert_401(&app.get("/maybe").bearer("garbage").send().await, true);
    assert_401(&app.get("/maybe").bearer(&hs256(&claims(json!({})), OTHER_SECRET)).send().await, true);
}

#[trestle::test]
async fn a_missing_scope_is_403() {
    let app = test_app().await;
    let res = app.get("/admin").bearer(&hs256(&claims(json!({ "scopes": ["read"] })), SECRET)).send().await;
    assert_eq!(res.status(), 403);
    assert!(res.problem().detail.unwrap().contains("admin"));
    assert!(res.header("www-authenticate").unwrap().contains("insufficient_scope"));
    let res = app.get("/admin").bearer(&hs256(&claims(json!({ "scopes": ["read", "admin"] })), SECRET)).send().await;
    assert_eq!(res.text(), "welcome, admin");
}

#[trestle::test]
async fn issued_tokens_carry_the_configured_claims() {
    let app = test_app().await;
    let token = app.post("/login").send().await.text();
    assert_eq!(app.get("/me").bearer(&token).send().await.text(), "u1 ada");
    let payload = token.split('.').nth(1).unwrap();
    let config = JwtConfig {
        secret: Some(Secret::new(SECRET.into())),
        issuer: Some("https://issuer.test".into()),
        audience: Some("trestle-tests".into()),
        ..JwtConfig::default()
    };
    let claims = Jwt::from_config(&config).unwrap().verify::<Extra>(&token).unwrap();
    assert_eq!(claims.iss.as_deref(), Some("https://issuer.test"));
    assert_eq!(claims.aud, ["trestle-tests"]);
    assert!((3590..=3600).contains(&(claims.exp - claims.iat)), "ttl defaults to 1h");
    assert!(claims.jti.is_some());
    assert!(!payload.is_empty());
}

#[trestle::test]
async fn the_token_can_come_from_a_cookie_or_an_enabled_query_parameter() {
    let token = hs256(&claims(json!({})), SECRET);
    let app = test_app().await;
    assert_401(&app.get(&format!("/me?access_token={token}")).send().await, false);

    let app = TestApp::new(app_with(&[("auth.jwt.cookie", "session"), ("auth.jwt.query_parameter", "access_token")]))
        .await
        .unwrap();
    let res = app.get("/me").header("cookie", format!("theme=dark; session={token}")).send().await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.get(&format!("/me?access_token={token}")).send().await.status(), 200);
}

#[trestle::test]
async fn the_scheme_is_configurable() {
    let token = hs256(&claims(json!({})), SECRET);
    let app = TestApp::new(app_with(&[("auth.jwt.scheme", "Token")])).await.unwrap();
    assert_eq!(app.get("/me").header("authorization", format!("Token {token}")).send().await.status(), 200);
    let res = app.get("/me").bearer(&token).send().await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.header("www-authenticate"), Some("Token"));
}

fn app_with(pairs: &[(&str, &str)]) -> trestle::App<NoConfig, Context<NoConfig>> {
    pairs.iter().fold(app(), |app, (k, v)| app.configure(|c| c.set(*k, *v)))
}

fn jwt_config(algorithm: &str, private: Option<&str>, public: Option<&str>) -> JwtConfig {
    JwtConfig {
        algorithm: algorithm.into(),
        private_key_file: private.map(keys),
        public_key_file: public.map(keys),
        ..JwtConfig::default()
    }
}

#[test]
fn every_algorithm_family_round_trips() {
    for alg in ["HS256", "HS384", "HS512"] {
        let mut config = jwt_config(alg, None, None);
        config.secret = Some(Secret::new(SECRET.into()));
        let jwt = Jwt::from_config(&config).unwrap();
        assert_eq!(jwt.verify::<()>(&jwt.issue("s", ()).unwrap()).unwrap().sub, "s", "{alg}");
    }
    for (alg, private, public) in [
        ("RS256", "rsa_private.pem", "rsa_public.pem"),
        ("RS384", "rsa_private.pem", "rsa_public.pem"),
        ("RS512", "rsa_private.pem", "rsa_public.pem"),
        ("PS256", "rsa_private.pem", "rsa_public.pem"),
        ("ES256", "ec256_private.pem", "ec256_public.pem"),
        ("ES384", "ec384_private.pem", "ec384_public.pem"),
        ("EdDSA", "ed25519_private.pem", "ed25519_public.pem"),
    ] {
        let jwt = Jwt::from_config(&jwt_config(alg, Some(private), Some(public))).unwrap();
        let token = jwt.issue("s", Extra { name: "n".into() }).unwrap();
        let claims = jwt.verify::<Extra>(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.extra.name.as_str()), ("s", "n"), "{alg}");

        let verify_only = Jwt::from_config(&jwt_config(alg, None, Some(public))).unwrap();
        assert_eq!(verify_only.verify::<()>(&token).unwrap().sub, "s", "{alg}: a public key is enough to verify");
        let err = verify_only.issue("s", ()).unwrap_err().to_string();
        assert!(err.contains("private_key_file"), "{err}");
    }
}

#[test]
fn startup_rejects_short_or_missing_secrets() {
    let mut config = jwt_config("HS256", None, None);
    let err = Jwt::from_config(&config).unwrap_err().to_string();
    assert!(err.contains("auth.jwt.secret is not set"), "{err}");
    config.secret = Some(Secret::new("too-short".into()));
    let err = Jwt::from_config(&config).unwrap_err().to_string();
    assert!(err.contains("9 bytes") && err.contains("at least 32"), "{err}");
    assert!(!err.contains("too-short"), "the secret leaked: {err}");
}

#[test]
fn startup_rejects_bad_key_files() {
    let cases = [
        (jwt_config("RS256", None, Some("no_such_file.pem")), "no such file"),
        (jwt_config("RS256", None, Some("not_a_key.txt")), "not a PEM file"),
        (jwt_config("RS256", None, Some("ec256_public.pem")), "not an RSA key"),
        (jwt_config("ES256", None, Some("rsa_public.pem")), "not an EC P-256 key"),
        (jwt_config("EdDSA", Some("rsa_private.pem"), Some("ed25519_public.pem")), "not an Ed25519 key"),
        (jwt_config("RS256", None, None), "public_key_file is not set"),
        (jwt_config("RS256", Some("other_rsa_private.pem"), Some("rsa_public.pem")), "are a pair"),
        (jwt_config("HS999", None, None), "not supported"),
    ];
    for (config, expected) in cases {
        let err = Jwt::from_config(&config).unwrap_err().to_string();
        assert!(err.contains(expected), "expected {expected:?} in: {err}");
        assert!(!err.contains("MII") && !err.contains("PRIVATE KEY-"), "key material leaked: {err}");
    }
}

#[trestle::test]
async fn a_missing_secret_stops_the_app_naming_the_env_var_of_its_prefix() {
    let err = TestApp::new(trestle::App::new().auth()).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("auth.jwt.secret is not set") && text.contains("APP__AUTH__JWT__SECRET"), "{text}");
    match err {
        trestle::StartupError::Auth { source, .. } => {
            assert!(matches!(source, trestle::auth::AuthError::MissingSecret(_)))
        }
        other => panic!("expected an auth startup error, got {other:?}"),
    }
}

#[trestle::test]
async fn a_bad_key_file_stops_the_app_at_startup() {
    let app = trestle::App::new().auth().configure(|c| {
        c.set("auth.jwt.algorithm", "ES256")
            .set("auth.jwt.public_key_file", keys("not_a_key.txt").display().to_string())
    });
    let err = format!("{:?}", TestApp::new(app).await.unwrap_err());
    assert!(err.contains("auth.jwt.public_key_file") && err.contains("not a PEM file"), "{err}");
}

#[trestle::test]
async fn password_hash_and_verify() {
    let hash = password::hash("correct horse battery staple").await.unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    assert!(password::verify("correct horse battery staple", &hash).await.unwrap());
    assert!(!password::verify("Correct horse battery staple", &hash).await.unwrap());
    assert_ne!(hash, password::hash("correct horse battery staple").await.unwrap(), "salted");
    for malformed in ["", "plaintext", "$argon2id$v=19$m=19456", "$2b$12$bcrypt.hash.is.not.phc.argon"] {
        assert!(password::verify("x", malformed).await.is_err(), "{malformed:?}");
    }
}

#[trestle::test]
async fn hashing_does_not_block_other_requests() {
    // One worker thread: if hashing ran on it, the request below would wait for all four.
    let app = test_app().await;
    let hashing = tokio::spawn(async {
        let started = Instant::now();
        for _ in 0..4 {
            password::hash("some password").await.unwrap();
        }
        started.elapsed()
    });
    tokio::task::yield_now().await;
    let started = Instant::now();
    assert_eq!(app.get("/maybe").send().await.text(), "anonymous");
    let request = started.elapsed();
    let hashing = hashing.await.unwrap();
    assert!(request * 4 < hashing, "a request took {request:?} while hashing took {hashing:?}");
    assert!(request < Duration::from_millis(500));
}

/// A log sink for one test.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[trestle::test]
async fn the_span_records_the_subject_and_no_log_line_holds_the_token() {
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_current_span(true)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = test_app().await;
    let token = hs256(&claims(json!({})), SECRET);
    assert_eq!(app.get("/me").bearer(&token).send().await.status(), 200);
    let bad = hs256(&claims(json!({})), OTHER_SECRET);
    assert_eq!(app.get("/me").bearer(&bad).send().await.status(), 401);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let finished = text.lines().find(|l| l.contains("request finished")).expect("a request log line");
    assert!(finished.contains(r#""user.id":"u1""#), "{finished}");
    for secret in [&token, &bad] {
        let signature = secret.rsplit('.').next().unwrap();
        assert!(!text.contains(signature), "a token reached the logs:\n{text}");
    }
}

#[trestle::test]
async fn problem_types_tell_missing_from_invalid_credentials() {
    let app = test_app().await;
    assert_eq!(app.get("/me").send().await.problem().problem_type, trestle::auth::MISSING_CREDENTIALS);
    assert_eq!(app.get("/me").bearer("x.y.z").send().await.problem().problem_type, trestle::auth::INVALID_TOKEN);
    let res = app.get("/admin").bearer(&hs256(&claims(json!({})), SECRET)).send().await;
    assert_eq!(res.problem().problem_type, trestle::auth::INSUFFICIENT_SCOPE);
}

/// Who is calling.
#[trestle::get("/whoami")]
async fn whoami_unconfigured(auth: Auth) -> String {
    auth.0.sub.clone()
}

/// Who is calling, if anyone.
#[trestle::get("/maybe")]
async fn maybe_unconfigured(auth: Option<Auth>) -> String {
    auth.map(|a| a.0.sub).unwrap_or_default()
}

#[trestle::test]
async fn a_route_taking_auth_without_app_auth_is_a_startup_error_naming_it() {
    for routes in [routes![whoami_unconfigured], routes![maybe_unconfigured]] {
        let app = App::new().state(|ctx| ctx.clone()).routes(routes);
        let Err(err) = app.into_router().await else { panic!("started without keys") };
        let text = err.to_string();
        assert!(matches!(err, StartupError::Auth { .. }), "{text}");
        assert!(text.contains("GET /") && text.contains("_unconfigured") && text.contains("App::auth()"), "{text}");
    }
    // With the keys, the same route starts.
    let app = App::new()
        .configure(|c| c.set("auth.jwt.secret", "0123456789abcdef0123456789abcdef"))
        .auth()
        .state(|ctx| ctx.clone())
        .routes(routes![whoami_unconfigured]);
    assert!(app.into_router().await.is_ok());
}
