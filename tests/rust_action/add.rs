// WOW's `add` action (ow-wasm-action/examples/add.rs): {"param1": a,
// "param2": b} -> {"result": a + b}; a missing or non-integer parameter is the
// action's error.
#[path = "ow_wasm_action.rs"]
#[macro_use]
mod ow_wasm_action;
use ow_wasm_action::{anyhow, serde_json};

pass_json!(func);

fn int_param(json: &serde_json::Value, name: &str) -> Result<i64, anyhow::Error> {
    json.get(name)
        .ok_or_else(|| anyhow::anyhow!("Expected {}.", name))?
        .as_i64()
        .ok_or_else(|| anyhow::anyhow!("Expected {} to be i64", name))
}

pub fn func(json: serde_json::Value) -> Result<serde_json::Value, anyhow::Error> {
    let param1 = int_param(&json, "param1")?;
    let param2 = int_param(&json, "param2")?;
    Ok(serde_json::json!({ "result": param1 + param2 }))
}
