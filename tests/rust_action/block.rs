// WOW's I/O-bound `block` action (ow-wasm-action/examples/block.rs): calls the
// host function http.get (linked with the net_access annotation), which
// blocks for 300 ms, and reports the elapsed milliseconds as a string.
#[path = "ow_wasm_action.rs"]
#[macro_use]
mod ow_wasm_action;
use ow_wasm_action::{anyhow, serde_json};

pass_json!(func);

#[link(wasm_import_module = "http")]
extern "C" {
    fn get() -> i32;
}

pub fn func(_json: serde_json::Value) -> Result<serde_json::Value, anyhow::Error> {
    let start = std::time::Instant::now();
    let _ = unsafe { get() };
    Ok(serde_json::json!({ "sleep": format!("{}", start.elapsed().as_millis()) }))
}
