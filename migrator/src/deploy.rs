//! `migrator deploy`: the files that run `migrator serve` and a pool of `migrator worker`
//! processes (a Dockerfile, a docker-compose.yml, Kubernetes manifests), rendered from
//! `templates/deploy/` into `deploy/` and checked in, so a change to them is reviewed
//! like code; `--check` fails when they are stale. `deploy/seaway.yaml`, the config the
//! image runs with, is written only when missing: it is the user's to edit.

use seaway_codegen::snapshot_io::{self, OutputFile};
use std::path::{Path, PathBuf};

/// What the files are rendered with.
#[derive(Debug, Clone)]
pub struct Options {
    /// The image name and tag the files refer to.
    pub image: String,
    /// Workers started (compose replicas, the Deployment's replicas).
    pub workers: u32,
    /// The autoscaler's ceiling.
    pub max_workers: u32,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            image: "seaway-migrator:latest".into(),
            workers: 2,
            max_workers: 8,
        }
    }
}

/// The rendered files (relative paths) and whether each belongs to the user once written.
const TEMPLATES: [(&str, &str, bool); 5] = [
    (
        "Dockerfile",
        include_str!("../../templates/deploy/Dockerfile"),
        false,
    ),
    (
        "docker-compose.yml",
        include_str!("../../templates/deploy/docker-compose.yml"),
        false,
    ),
    (
        "kubernetes/serve.yaml",
        include_str!("../../templates/deploy/kubernetes/serve.yaml"),
        false,
    ),
    (
        "kubernetes/worker.yaml",
        include_str!("../../templates/deploy/kubernetes/worker.yaml"),
        false,
    ),
    (
        "seaway.yaml",
        include_str!("../../templates/deploy/seaway.yaml"),
        true,
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("--workers ({workers}) must be at least 1 and at most --max-workers ({max})")]
    Workers { workers: u32, max: u32 },
    #[error("--image `{0}`: an image name is letters, digits and `._-/:@` only")]
    Image(String),
    #[error(transparent)]
    Write(#[from] snapshot_io::WriteError),
}

fn render(template: &str, opts: &Options) -> String {
    template
        .replace("{{image}}", &opts.image)
        .replace("{{workers}}", &opts.workers.to_string())
        .replace("{{max_workers}}", &opts.max_workers.to_string())
}

/// The files for `out`, rendered; the user's own config only when it is missing.
pub fn files(out: &Path, opts: &Options) -> Result<Vec<OutputFile>, DeployError> {
    if opts.workers == 0 || opts.workers > opts.max_workers {
        return Err(DeployError::Workers {
            workers: opts.workers,
            max: opts.max_workers,
        });
    }
    if opts.image.is_empty()
        || !opts
            .image
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c))
    {
        return Err(DeployError::Image(opts.image.clone()));
    }
    Ok(TEMPLATES
        .iter()
        .filter(|(name, _, users)| !users || !out.join(name).exists())
        .map(|(name, template, _)| OutputFile {
            path: out.join(name),
            contents: render(template, opts),
        })
        .collect())
}

/// The generated files under `out` that differ from what `opts` renders (missing ones
/// included).
pub fn stale(out: &Path, opts: &Options) -> Result<Vec<PathBuf>, DeployError> {
    Ok(files(out, opts)?
        .into_iter()
        .filter(|f| std::fs::read_to_string(&f.path).ok().as_deref() != Some(&f.contents))
        .map(|f| f.path)
        .collect())
}

/// Writes the files under `out`; returns their paths.
pub fn write(out: &Path, opts: &Options) -> Result<Vec<PathBuf>, DeployError> {
    let files = files(out, opts)?;
    let paths = files.iter().map(|f| f.path.clone()).collect();
    snapshot_io::write_all(&files)?;
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_placeholder_and_refuses_bad_options() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = Options {
            image: "registry.example.com/seaway/migrator:1.2".into(),
            workers: 3,
            max_workers: 12,
        };
        let files = files(dir.path(), &opts).expect("files");
        assert_eq!(files.len(), 5);
        for f in &files {
            assert!(!f.contents.contains("{{"), "{}", f.path.display());
        }
        let worker = files
            .iter()
            .find(|f| f.path.ends_with("kubernetes/worker.yaml"))
            .expect("worker.yaml");
        assert!(worker.contents.contains("replicas: 3"));
        assert!(worker.contents.contains("maxReplicas: 12"));
        assert!(
            worker
                .contents
                .contains("image: registry.example.com/seaway/migrator:1.2")
        );
        assert!(matches!(
            super::files(
                dir.path(),
                &Options {
                    workers: 0,
                    ..Options::default()
                }
            ),
            Err(DeployError::Workers { .. })
        ));
        assert!(matches!(
            super::files(
                dir.path(),
                &Options {
                    image: "bad image; rm -rf".into(),
                    ..Options::default()
                }
            ),
            Err(DeployError::Image(_))
        ));
        // The user's config, once there, is left alone and never stale.
        write(dir.path(), &opts).expect("write");
        std::fs::write(dir.path().join("seaway.yaml"), "# mine\n").expect("edit");
        assert!(stale(dir.path(), &opts).expect("stale").is_empty());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("seaway.yaml")).expect("read"),
            "# mine\n"
        );
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").expect("edit");
        assert_eq!(
            stale(dir.path(), &opts).expect("stale"),
            vec![dir.path().join("Dockerfile")]
        );
    }
}
