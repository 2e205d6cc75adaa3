//! `codegen route`: `<output>/route/haproxy.cfg` from the service boundaries (of the
//! committed source snapshot, as `generate` uses) and the config's `routing:` section.

use super::generate::{self, GenerateError};
use crate::boundary;
use crate::config::Config;
use crate::render::{self, RenderError, api};
use crate::snapshot_io::OutputFile;

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error(transparent)]
    Generate(#[from] GenerateError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// The config file, not yet written; `None` when the config has no `routing:`.
pub fn run(config: &Config) -> Result<Option<OutputFile>, RouteError> {
    let Some(routing) = &config.routing else {
        return Ok(None);
    };
    let schema = generate::source_model(config)?;
    let boundaries = boundary::detect(&schema, &config.services)
        .map_err(|b| config.error_at(b.line(), b.to_string()))?;
    let apis = api::build(&schema, &boundaries, &config.services);
    for (name, route) in &routing.services {
        if !apis.iter().any(|a| &a.name == name) {
            let known: Vec<&str> = apis.iter().map(|a| a.name.as_str()).collect();
            return Err(config
                .error_at(
                    route.line,
                    format!(
                        "routing.services.{name}: no such service{}; services are: {}",
                        crate::config::did_you_mean(name, known.iter().copied()),
                        known.join(", ")
                    ),
                )
                .into());
        }
    }
    let resources: Vec<(String, Vec<String>)> = apis
        .iter()
        .map(|a| {
            (
                a.name.clone(),
                a.resources.iter().map(|r| r.name.clone()).collect(),
            )
        })
        .collect();
    let name = render::crate_files::output_dir_name(&config.output);
    Ok(Some(render::haproxy::render(
        routing,
        &resources,
        &config.output,
        &name,
    )?))
}
