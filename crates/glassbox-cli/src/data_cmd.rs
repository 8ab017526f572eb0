//! `glassbox data ...`

use glassbox_core::data::inventory::Inventory;

use crate::cli::{Common, DataCommand};

pub fn run(common: &Common, cmd: &DataCommand) -> anyhow::Result<()> {
    match cmd {
        DataCommand::Info { json } => {
            // Opening the device checks the flag even here, so a bad --device fails the same way everywhere.
            common.device.open()?;
            let inventory = Inventory::collect(&common.locator())?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&inventory)?);
            } else {
                print!("{inventory}");
            }
            Ok(())
        }
    }
}
