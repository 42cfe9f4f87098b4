// WOW's `filesys` action (ow-wasm-action/examples/filesys.rs): creates
// <dir>/<unix seconds>.txt in a directory preopened through the `dir`
// annotation, writes "Hello, Wasm." and reads from the same handle (which,
// as in WOW, is at the end of the file, so `content` is empty). WOW's
// directory is fixed at /tmp/filesys; here the parameter "dir" may override it
// so tests need not touch /tmp/filesys.
#[path = "ow_wasm_action.rs"]
#[macro_use]
mod ow_wasm_action;
use ow_wasm_action::{anyhow, serde_json};

use std::fs::OpenOptions;
use std::io::{Read, Write};

pass_json!(func);

pub fn func(json: serde_json::Value) -> Result<serde_json::Value, anyhow::Error> {
    let dir = json.get("dir").and_then(|d| d.as_str()).unwrap_or("/tmp/filesys");
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .expect("Time went backwards.")
        .as_secs();
    let path = format!("{}/{}.txt", dir, secs);

    let start = std::time::Instant::now();
    let mut file = OpenOptions::new().read(true).write(true).create(true).open(&path)?;
    file.write_all(b"Hello, Wasm.").unwrap();
    let mut content = String::new();
    file.read_to_string(&mut content).unwrap();

    Ok(serde_json::json!({
        "success": true,
        "write_read_time": start.elapsed().as_millis() as u64,
        "content": content,
        "path": path,
    }))
}
