//! How `normalize:` is written: a name (`auto`, `zscore`, `none`), `{window: {center, width}}`,
//! or the dataset's statistics `{clip: [lo, hi], mean, std}`.

use serde::Deserialize;

use super::Normalize;

#[derive(Deserialize)]
#[serde(untagged, expecting = "auto, zscore, none, {window: {center, width}} or {clip: [lo, hi], mean, std}")]
pub(super) enum Written {
    Name(Name),
    Window { window: Window },
    Dataset(Dataset),
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Name {
    Auto,
    Zscore,
    None,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Window {
    center: f64,
    width: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Dataset {
    #[serde(default)]
    clip: Option<[f64; 2]>,
    mean: f64,
    std: f64,
}

impl From<Written> for Normalize {
    fn from(w: Written) -> Self {
        match w {
            Written::Name(Name::Auto) => Self::Auto,
            Written::Name(Name::Zscore) => Self::Zscore,
            Written::Name(Name::None) => Self::None,
            Written::Window { window } => Self::Window { center: window.center, width: window.width },
            Written::Dataset(d) => Self::Dataset { clip: d.clip, mean: d.mean, std: d.std },
        }
    }
}
