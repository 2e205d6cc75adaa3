//! deploy/: the files `migrator deploy` renders are checked in and current, the
//! Kubernetes manifests pass kubernetes-validate (strict, against the Kubernetes API's
//! schemas), and the compose file passes `docker-compose config`. Both validators are
//! first shown to reject a broken file, so a pass means something.

use crate::support;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tool from the venvs `.ci/python-tools` makes; skips with a reason when missing,
/// unless live tests are required.
fn tool(venv: &str, name: &str) -> Option<PathBuf> {
    let path = support::repo_root().join(venv).join("bin").join(name);
    if path.is_file() {
        return Some(path);
    }
    let msg = format!(
        "{name} not found at {} (run `bash .ci/python-tools`)",
        path.display()
    );
    if std::env::var("SEAWAY_REQUIRE_LIVE").is_ok_and(|v| v == "1") {
        panic!("{msg}; SEAWAY_REQUIRE_LIVE=1 requires it");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("run");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn deploy_dir() -> PathBuf {
    support::repo_root().join("deploy")
}

#[test]
fn the_checked_in_deploy_files_are_current() {
    let out = assert_cmd::Command::cargo_bin("migrator")
        .expect("migrator")
        .args(["deploy", "--check", "--out"])
        .arg(deploy_dir())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "deploy/ is stale: run `just deploy` and commit\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_kubernetes_manifests_pass_kubernetes_validate() {
    let Some(validate) = tool(".venv-anchors", "kubernetes-validate") else {
        return;
    };
    let check = |files: &[&Path]| run(Command::new(&validate).arg("--strict").args(files));
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        std::fs::read_to_string(deploy_dir().join("kubernetes/worker.yaml"))
            .expect("worker.yaml")
            .replace("replicas: 2", "replicas: two"),
    )
    .expect("write");
    let (ok, text) = check(&[&broken]);
    assert!(!ok, "a string for replicas passed:\n{text}");
    let files = [
        deploy_dir().join("kubernetes/serve.yaml"),
        deploy_dir().join("kubernetes/worker.yaml"),
    ];
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let (ok, text) = check(&refs);
    assert!(ok, "{text}");
    assert_eq!(text.matches("passed").count(), 4, "{text}");
}

#[test]
fn the_compose_file_passes_docker_compose_config() {
    let Some(compose) = tool(".venv-compose", "docker-compose") else {
        return;
    };
    let config = |file: &Path| {
        run(Command::new(&compose)
            .arg("-f")
            .arg(file)
            .args(["config", "-q"])
            .env("SEAWAY_STORE_PASSWORD", "not-a-real-password")
            .env("SEAWAY_SOURCE_URL", "postgres://monolith.internal/app")
            .env("SEAWAY_DESTINATION_URL", "mysql://service.internal/app")
            .env("SEAWAY_SERVE_TOKENS", "ada:admin:token"))
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join("docker-compose.yml");
    std::fs::write(
        &broken,
        std::fs::read_to_string(deploy_dir().join("docker-compose.yml"))
            .expect("compose")
            .replace("stop_grace_period: 60s", "stop_grace_period: [60s]"),
    )
    .expect("write");
    let (ok, text) = config(&broken);
    assert!(!ok, "a list for stop_grace_period passed:\n{text}");
    let (ok, text) = config(&deploy_dir().join("docker-compose.yml"));
    assert!(ok, "{text}");
}
