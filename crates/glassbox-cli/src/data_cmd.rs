//! `glassbox data ...`

use glassbox_core::data::inventory::Inventory;
use glassbox_tensor::kernels::{cpu, pinning};

use crate::cli::{Common, DataCommand};

pub fn run(common: &Common, cmd: &DataCommand) -> anyhow::Result<()> {
    match cmd {
        DataCommand::Info { json } => {
            // Opening the device checks the flag even here, so a bad --device fails the same way everywhere.
            common.device.open()?;
            let inventory = Inventory::collect(&common.locator())?;
            let (detected, in_use) = (cpu::detected(), cpu::tier());
            if *json {
                let mut value = serde_json::to_value(&inventory)?;
                if let Some(map) = value.as_object_mut() {
                    let paths: serde_json::Map<String, serde_json::Value> = cpu::paths()
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v.into()))
                        .collect();
                    map.insert(
                        "cpu".into(),
                        serde_json::json!({
                            "detected": detected.name(),
                            "in_use": in_use.name(),
                            "paths": paths,
                            "threads": pinning::decision().to_string(),
                        }),
                    );
                }
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                print!("{inventory}");
                let lowered = if in_use < detected {
                    format!(", lowered by {}={in_use}", cpu::OVERRIDE_VAR)
                } else {
                    String::new()
                };
                println!("CPU kernels: {in_use} (the CPU has {detected}{lowered})");
                for (kernel, path) in cpu::paths() {
                    println!("  {kernel}: {path}");
                }
                println!("Threads: {}", pinning::decision());
            }
            Ok(())
        }
    }
}
