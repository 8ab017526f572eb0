//! Seeded weight initialisation for candle layers.

use std::sync::Mutex;

use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder, VarMap};
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal, Uniform};

use super::Seed;

/// A `VarBuilder` backend that creates variables from a seeded generator and stores them in a `VarMap`,
/// so `candle_nn` layers built from it start from the same weights on every run with the same seed.
pub struct SeededInit {
    varmap: VarMap,
    rng: Mutex<StdRng>,
}

impl SeededInit {
    /// A `VarBuilder` whose new variables are drawn from `seed`'s "init" stream and recorded in `varmap`.
    pub fn var_builder(
        varmap: &VarMap,
        seed: Seed,
        dtype: DType,
        device: &Device,
    ) -> VarBuilder<'static> {
        let backend = SeededInit {
            varmap: varmap.clone(),
            rng: Mutex::new(seed.stream("init")),
        };
        VarBuilder::from_backend(Box::new(backend), dtype, device.clone())
    }

    fn sample(&self, shape: &Shape, init: Init) -> candle_core::Result<Vec<f32>> {
        let n = shape.elem_count();
        let mut rng = self.rng.lock().expect("init generator poisoned");
        let values = match init {
            Init::Const(v) => vec![v as f32; n],
            Init::Randn { mean, stdev } => {
                let d = Normal::new(mean, stdev).map_err(candle_core::Error::wrap)?;
                (0..n).map(|_| d.sample(&mut *rng) as f32).collect()
            }
            Init::Uniform { lo, up } => {
                let d = Uniform::new(lo, up).map_err(candle_core::Error::wrap)?;
                (0..n).map(|_| d.sample(&mut *rng) as f32).collect()
            }
            Init::Kaiming {
                dist,
                fan,
                non_linearity,
            } => {
                let fan = fan.for_shape(shape);
                let gain = non_linearity.gain();
                let std = gain / (fan as f64).sqrt();
                return self.sample_kaiming(n, dist, std, &mut rng);
            }
        };
        Ok(values)
    }

    fn sample_kaiming(
        &self,
        n: usize,
        dist: candle_nn::init::NormalOrUniform,
        std: f64,
        rng: &mut StdRng,
    ) -> candle_core::Result<Vec<f32>> {
        use candle_nn::init::NormalOrUniform;
        Ok(match dist {
            NormalOrUniform::Normal => {
                let d = Normal::new(0.0, std).map_err(candle_core::Error::wrap)?;
                (0..n).map(|_| d.sample(rng) as f32).collect()
            }
            NormalOrUniform::Uniform => {
                let bound = 3f64.sqrt() * std;
                let d = Uniform::new(-bound, bound).map_err(candle_core::Error::wrap)?;
                (0..n).map(|_| d.sample(rng) as f32).collect()
            }
        })
    }
}

impl SimpleBackend for SeededInit {
    fn get(
        &self,
        s: Shape,
        name: &str,
        h: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        if let Some(existing) = self
            .varmap
            .data()
            .lock()
            .expect("varmap poisoned")
            .get(name)
        {
            let t = existing.as_tensor();
            if t.shape() != &s {
                candle_core::bail!(
                    "variable {name}: shape {:?} already registered, asked for {s:?}",
                    t.shape()
                );
            }
            return Ok(t.clone());
        }
        let values = self.sample(&s, h)?;
        let tensor = Tensor::from_vec(values, s, dev)?.to_dtype(dtype)?;
        let var = Var::from_tensor(&tensor)?;
        let out = var.as_tensor().clone();
        self.varmap
            .data()
            .lock()
            .expect("varmap poisoned")
            .insert(name.to_string(), var);
        Ok(out)
    }

    fn get_unchecked(
        &self,
        name: &str,
        dtype: DType,
        _dev: &Device,
    ) -> candle_core::Result<Tensor> {
        match self
            .varmap
            .data()
            .lock()
            .expect("varmap poisoned")
            .get(name)
        {
            Some(v) => v.as_tensor().to_dtype(dtype),
            None => candle_core::bail!("variable {name} has not been created"),
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.varmap
            .data()
            .lock()
            .expect("varmap poisoned")
            .contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_initial_weights() {
        let build = |seed| {
            let vm = VarMap::new();
            let vb = SeededInit::var_builder(&vm, Seed(seed), DType::F32, &Device::Cpu);
            let l = candle_nn::linear(5, 3, vb.pp("fc")).unwrap();
            l.weight().flatten_all().unwrap().to_vec1::<f32>().unwrap()
        };
        assert_eq!(build(1), build(1));
        assert_ne!(build(1), build(2));
    }
}
