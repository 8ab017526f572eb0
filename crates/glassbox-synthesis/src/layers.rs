//! Which VGG16 layers an objective reads, and with what weight: `block4_conv3=1.0,block5_conv1=0.5`.
//!
//! Only the feature stack counts (convolutions and pools): the classifier needs 224x224 inputs and the
//! shared weights have none, while dreams and style transfer run at any size.

use glassbox_convnet::vgg::CONVS;

use crate::Result;

/// Layer names with weights, in the order given.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LayerMix(pub Vec<(String, f32)>);

/// VGG16's feature layers, in order: block1_conv1, block1_conv2, block1_pool, ..., block5_pool.
pub fn feature_layers() -> Vec<&'static str> {
    CONVS
        .iter()
        .flat_map(|c| std::iter::once(c.name).chain(c.pool_after))
        .collect()
}

/// `name` if VGG16's feature stack has it, else an error that lists every valid name.
pub fn check_layer(name: &str) -> Result<()> {
    let valid = feature_layers();
    if valid.contains(&name) {
        Ok(())
    } else {
        Err(glassbox_core::Error::invalid(
            "VGG16 layer",
            name,
            format!("one of {}", valid.join(", ")),
        )
        .into())
    }
}

impl LayerMix {
    /// Parses `name=weight,name=weight` (a bare `name` weighs 1). Every name must be a feature layer,
    /// every weight finite, and at least one given.
    pub fn parse(text: &str) -> Result<LayerMix> {
        let mut mix = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = match part.split_once('=') {
                Some((n, w)) => {
                    let weight = w.trim().parse::<f32>().ok().filter(|w| w.is_finite());
                    let Some(weight) = weight else {
                        return Err(glassbox_core::Error::invalid(
                            "layer weight",
                            part,
                            "name=number, for example block4_conv3=1.0",
                        )
                        .into());
                    };
                    (n.trim(), weight)
                }
                None => (part, 1.0),
            };
            check_layer(name)?;
            mix.push((name.to_string(), weight));
        }
        if mix.is_empty() {
            return Err(glassbox_core::Error::invalid(
                "layers",
                text,
                "at least one layer, for example block4_conv3=1.0,block5_conv1=0.5",
            )
            .into());
        }
        Ok(LayerMix(mix))
    }

    /// The layers' names, in the order given.
    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(|(n, _)| n.as_str()).collect()
    }
}

impl std::fmt::Display for LayerMix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(n, w)| format!("{n}={w}")).collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_weights_in_order() {
        let mix = LayerMix::parse("block4_conv3=1.0, block5_conv1=0.5,block3_pool").unwrap();
        assert_eq!(
            mix.0,
            [
                ("block4_conv3".to_string(), 1.0),
                ("block5_conv1".to_string(), 0.5),
                ("block3_pool".to_string(), 1.0)
            ]
        );
        assert_eq!(
            LayerMix::parse(&mix.to_string()).unwrap(),
            mix,
            "Display round-trips"
        );
    }

    #[test]
    fn an_unknown_layer_lists_the_valid_names() {
        let err = LayerMix::parse("block6_conv1=1").unwrap_err().to_string();
        assert!(err.contains("block6_conv1"), "{err}");
        for name in feature_layers() {
            assert!(err.contains(name), "{name} missing from: {err}");
        }
        let err = LayerMix::parse("fc6").unwrap_err().to_string();
        assert!(err.contains("fc6") && err.contains("block5_pool"), "{err}");
    }

    #[test]
    fn bad_weights_and_empty_mixes_are_refused() {
        for bad in ["block4_conv3=x", "block4_conv3=inf", "block4_conv3=", " , "] {
            assert!(LayerMix::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
