//! The `acd serve` process: start-up lines, auth, health, routing errors, instance lock,
//! token generation, graceful stop and configuration precedence.

use acd_tests::{acd_bin, expect_problem, json_body, Acd, TEST_TOKEN};
use reqwest::Method;
use std::process::Command;

#[test]
fn healthz_is_open_without_a_token() {
    let acd = Acd::start();
    let response = acd.anonymous(Method::GET, "/healthz").send().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response)["status"], "ok");
}

#[test]
fn api_without_a_token_is_401_problem() {
    let acd = Acd::start();
    let response = acd.anonymous(Method::GET, "/api/v1/agents").send().unwrap();
    assert_eq!(
        response.headers()["www-authenticate"].to_str().unwrap(),
        "Bearer realm=\"acd-admin\""
    );
    let body = expect_problem(response, 401);
    assert!(body["detail"].as_str().unwrap().contains("Authorization"));
}

#[test]
fn api_with_a_wrong_token_is_401_problem() {
    let acd = Acd::start();
    let response = acd
        .anonymous(Method::GET, "/api/v1/agents")
        .bearer_auth(format!("{TEST_TOKEN}x"))
        .send()
        .unwrap();
    expect_problem(response, 401);
}

#[test]
fn openapi_document_also_needs_the_token() {
    let acd = Acd::start();
    let response = acd
        .anonymous(Method::GET, "/api/v1/openapi.json")
        .send()
        .unwrap();
    expect_problem(response, 401);
}

#[test]
fn unknown_api_route_is_404_problem() {
    let acd = Acd::start();
    expect_problem(acd.get("/api/v1/nope"), 404);
}

#[test]
fn unknown_route_outside_the_api_is_404_problem() {
    let acd = Acd::start();
    let response = acd.anonymous(Method::GET, "/nope").send().unwrap();
    expect_problem(response, 404);
}

#[test]
fn wrong_method_is_405_problem_with_allow_header() {
    let acd = Acd::start();
    let response = acd.request(Method::PUT, "/api/v1/agents").send().unwrap();
    assert_eq!(response.headers()["allow"].to_str().unwrap(), "GET, POST");
    expect_problem(response, 405);
}

#[test]
fn wrong_method_on_healthz_is_405_problem() {
    let acd = Acd::start();
    let response = acd.anonymous(Method::POST, "/healthz").send().unwrap();
    expect_problem(response, 405);
}

#[test]
fn second_serve_on_the_same_data_dir_fails_clearly() {
    let first = Acd::start();
    let failure = Acd::builder()
        .data_dir(&first.data_dir)
        .try_start()
        .expect_err("second instance must not start");
    assert!(!failure.status.unwrap().success());
    assert!(
        failure
            .stderr
            .contains("already in use by another running acd"),
        "stderr: {}",
        failure.stderr
    );
    // The first one is unaffected.
    assert_eq!(
        first
            .anonymous(Method::GET, "/healthz")
            .send()
            .unwrap()
            .status(),
        200
    );
}

#[test]
fn generated_token_is_printed_once_stored_owner_only_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let first = Acd::builder()
        .data_dir(dir.path())
        .generated_token()
        .start();
    let printed: Vec<String> = first
        .stdout_lines()
        .into_iter()
        .filter(|l| l.starts_with("admin token generated"))
        .collect();
    assert_eq!(printed.len(), 1, "{printed:?}");
    assert_eq!(first.get("/api/v1/openapi.json").status(), 200);
    let token = first.token.clone();
    assert!(printed[0].ends_with(&token));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("admin.token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "token file mode {mode:o}");
    }
    assert!(first.stop().success());

    let second = Acd::builder()
        .data_dir(dir.path())
        .generated_token()
        .start();
    assert!(
        !second.stdout_lines().iter().any(|l| l.contains(&token)),
        "the token is printed only when generated"
    );
    assert_eq!(second.token, token);
    assert_eq!(second.get("/api/v1/openapi.json").status(), 200);
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let acd = Acd::start();
    let lines = acd.stdout_lines_after_stop();
    assert_eq!(
        lines.last().map(String::as_str),
        Some("acd stopped"),
        "{lines:?}"
    );
}

#[test]
fn bound_address_is_reported_for_port_zero() {
    let acd = Acd::start();
    assert_ne!(acd.admin.port(), 0);
    assert!(acd
        .stdout_lines()
        .contains(&format!("admin listening on {}", acd.admin)));
}

#[test]
fn version_flag_prints_the_version() {
    let out = Command::new(acd_bin()).arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("acd "), "{text}");
}

#[test]
fn serve_help_documents_every_setting_with_its_env_var() {
    let out = Command::new(acd_bin())
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for (flag, env) in [
        ("--config", "ACD_CONFIG"),
        ("--data-dir", "ACD_DATA_DIR"),
        ("--admin-listen", "ACD_ADMIN_LISTEN"),
        ("--admin-token", "ACD_ADMIN_TOKEN"),
        ("--log", "ACD_LOG"),
    ] {
        assert!(text.contains(flag), "{flag} missing:\n{text}");
        assert!(text.contains(env), "{env} missing:\n{text}");
    }
}

#[test]
fn help_never_shows_the_token_from_the_environment() {
    let out = Command::new(acd_bin())
        .args(["serve", "--help"])
        .env("ACD_ADMIN_TOKEN", "super-secret-help")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("ACD_ADMIN_TOKEN"), "{text}");
    assert!(!text.contains("super-secret-help"), "{text}");
}

fn effective_config(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(acd_bin());
    cmd.arg("config").args(args);
    for var in [
        "ACD_CONFIG",
        "ACD_DATA_DIR",
        "ACD_ADMIN_LISTEN",
        "ACD_ADMIN_TOKEN",
        "ACD_LOG",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn embedded_defaults_apply_without_any_setting() {
    let shown = effective_config(&[], &[]);
    assert!(shown.contains("data_dir = \"./acd-data\""), "{shown}");
    assert!(shown.contains("listen = \"127.0.0.1:8080\""), "{shown}");
}

#[test]
fn flag_beats_env_beats_file_beats_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("acd.toml");
    std::fs::write(
        &file,
        "data_dir = \"/file\"\nlog = \"warn\"\n[admin]\nlisten = \"127.0.0.1:1111\"\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let shown = effective_config(
        &["--config", file, "--data-dir", "/flag"],
        &[
            ("ACD_DATA_DIR", "/env"),
            ("ACD_ADMIN_LISTEN", "127.0.0.1:2222"),
        ],
    );
    assert!(shown.contains("data_dir = \"/flag\""), "flag wins: {shown}");
    assert!(
        shown.contains("listen = \"127.0.0.1:2222\""),
        "env beats file: {shown}"
    );
    assert!(
        shown.contains("log = \"warn\""),
        "file beats default: {shown}"
    );
    assert!(
        shown.contains("shutdown_grace_secs = 10"),
        "default kept: {shown}"
    );
}

#[test]
fn invalid_setting_is_refused_naming_its_source() {
    let out = Command::new(acd_bin())
        .args(["config"])
        .env("ACD_ADMIN_SHUTDOWN_GRACE_SECS", "soon")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ACD_ADMIN_SHUTDOWN_GRACE_SECS"), "{err}");
}

#[test]
fn unknown_key_in_config_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("acd.toml");
    std::fs::write(&file, "[admin]\nlisen = \"127.0.0.1:1\"\n").unwrap();
    let out = Command::new(acd_bin())
        .args(["config", "--config", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("lisen"));
}

#[test]
fn config_output_never_shows_the_token() {
    let shown = effective_config(&[], &[("ACD_ADMIN_TOKEN", "super-secret")]);
    assert!(!shown.contains("super-secret"), "{shown}");
}

#[test]
fn unbindable_admin_address_fails_with_a_clear_message() {
    let first = Acd::start();
    let failure = Acd::builder()
        .arg("--admin-listen")
        .arg(&first.admin.to_string())
        .try_start()
        .expect_err("port in use");
    assert!(
        failure.stderr.contains("cannot bind the admin API"),
        "{}",
        failure.stderr
    );
}

#[test]
fn media_stats_report_the_configured_port_pool_and_no_calls() {
    let acd = Acd::builder()
        .arg("--media-ports")
        .arg("25000-25099")
        .arg("--media-threads")
        .arg("2")
        .start();
    assert!(
        acd.stdout_lines()
            .iter()
            .any(|l| l.starts_with("media listening on ") && l.ends_with(" ports 25000-25099")),
        "{:?}",
        acd.stdout_lines()
    );
    let stats = json_body(acd.get("/api/v1/stats/media"));
    assert_eq!(
        stats,
        serde_json::json!({"ports_total": 50, "ports_free": 50, "legs_open": 0, "calls": 0})
    );
}

#[test]
fn a_reversed_media_port_range_stops_the_start_naming_the_key() {
    let failure = Acd::builder()
        .env("ACD_MEDIA_PORTS", "29999-20000")
        .try_start()
        .expect_err("a reversed range is refused");
    assert!(
        failure.stderr.contains("media.ports") && failure.stderr.contains("29999-20000"),
        "{}",
        failure.stderr
    );
}
