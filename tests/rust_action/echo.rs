// A test action in WOW's style (not one of WOW's): logs on stdout and stderr,
// then by its parameters
//   {"fail": "msg"}   returns Err(msg)        -> {"Err":{"error":"msg"}}
//   {"panic": "msg"}  panics (stderr + trap)
//   {"exit": n}       std::process::exit(n)
//   {"repeat": n}     {"params": <params>, "big": "x" * n}: a result larger
//                     than the parameters, so the buffer moves
//   otherwise         {"params": <params>, "argv": [...]} with the params
//                     parsed and re-serialised by the guest.
#[path = "ow_wasm_action.rs"]
#[macro_use]
mod ow_wasm_action;
use ow_wasm_action::{anyhow, serde_json};

pass_json!(func);

pub fn func(json: serde_json::Value) -> Result<serde_json::Value, anyhow::Error> {
    let argv: Vec<String> = std::env::args().collect();
    println!("echo: argv {:?}", argv);
    println!("echo: params {}", json);
    eprintln!("echo: a line on stderr");
    print!("echo: no newline at the end");

    if let Some(message) = json.get("fail").and_then(|v| v.as_str()) {
        return Err(anyhow::anyhow!("{}", message));
    }
    if let Some(message) = json.get("panic").and_then(|v| v.as_str()) {
        panic!("{}", message);
    }
    if let Some(code) = json.get("exit").and_then(|v| v.as_i64()) {
        std::process::exit(code as i32);
    }
    let mut out = serde_json::json!({ "argv": argv, "params": json.clone() });
    if let Some(n) = json.get("repeat").and_then(|v| v.as_u64()) {
        if let serde_json::Value::Object(map) = &mut out {
            map.insert("big".to_string(), serde_json::Value::from("x".repeat(n as usize)));
        }
    }
    Ok(out)
}
