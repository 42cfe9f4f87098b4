// A std-only stand-in for WOW's `ow-wasm-action` crate (PhilippGackstatter/wow,
// ow-wasm-action/src/lib.rs), so that actions written the way WOW's are can be
// built with Debian's rustc and no crates.io access.
//
// What must match WOW, because the host sees it:
//   - exports: `memory`, `_start` (rustc's bin crate), and the buffer
//     functions `wasm_memory_buffer_allocate_space(usize)`,
//     `get_wasm_memory_buffer_pointer() -> *mut u8` and
//     `get_wasm_memory_buffer_len() -> usize`, declared as WOW declares them:
//     `#[no_mangle] pub fn` with the Rust ABI (i32 on wasm32);
//   - the buffer is one `static mut Vec<u8>`: allocate_space reserves and
//     sets the length, the host writes the parameters at the pointer, main
//     reads `len` bytes where `len` is the LAST argv entry (WOW's wasmtime
//     host passed only the length, its wasmer host a program name too, and
//     more than two arguments is refused with a message on stderr);
//   - main replaces the buffer with the serialised `Result`: `{"Ok":<value>}`
//     or `{"Err":{"error":"<message>"}}` (the error's Display), formatted the
//     way serde_json formats (compact, object keys sorted as in serde_json's
//     default BTreeMap, its string escapes and number forms);
//   - invalid parameters panic ("Could not deserialize slice"), which on
//     wasm32-wasi prints to stderr and traps.
//
// Included by each action with
//   #[path = "ow_wasm_action.rs"] #[macro_use] mod ow_wasm_action;
//   use ow_wasm_action::{anyhow, serde_json};
// after which `serde_json::Value`, `serde_json::json!({"k": v, ...})` (flat
// objects only), `anyhow::Error`, `anyhow::anyhow!` and `pass_json!(func)`
// are used as in WOW's actions.
#![allow(dead_code)]

/// The shape of `anyhow` that WOW's actions use.
pub mod anyhow {
    use std::fmt;

    /// An error carrying its message; like anyhow::Error it converts from any
    /// std error with `?` and is not a std error itself.
    pub struct Error {
        message: String,
    }

    impl Error {
        pub fn msg<M: fmt::Display>(message: M) -> Error {
            Error { message: message.to_string() }
        }
    }

    impl fmt::Display for Error {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.message)
        }
    }

    impl fmt::Debug for Error {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.message)
        }
    }

    impl<E: std::error::Error> From<E> for Error {
        fn from(e: E) -> Error {
            Error::msg(e)
        }
    }

    pub type Result<T> = std::result::Result<T, Error>;

    pub use crate::__ow_anyhow as anyhow;
}

#[doc(hidden)]
#[macro_export]
macro_rules! __ow_anyhow {
    ($($arg:tt)*) => {
        $crate::ow_wasm_action::anyhow::Error::msg(format!($($arg)*))
    };
}

/// The part of `serde_json` that WOW's actions and its macro use.
pub mod serde_json {
    use std::collections::BTreeMap;
    use std::fmt;

    /// serde_json's default map: ordered by key.
    pub type Map = BTreeMap<String, Value>;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum N {
        PosInt(u64),
        NegInt(i64),
        Float(f64),
    }

    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct Number(N);

    impl Number {
        pub fn as_i64(&self) -> Option<i64> {
            match self.0 {
                N::PosInt(u) if u <= i64::MAX as u64 => Some(u as i64),
                N::NegInt(i) => Some(i),
                _ => None,
            }
        }
        pub fn as_u64(&self) -> Option<u64> {
            match self.0 {
                N::PosInt(u) => Some(u),
                _ => None,
            }
        }
        pub fn as_f64(&self) -> Option<f64> {
            Some(match self.0 {
                N::PosInt(u) => u as f64,
                N::NegInt(i) => i as f64,
                N::Float(f) => f,
            })
        }
        /// Like serde_json: non-finite floats are not numbers.
        pub fn from_f64(f: f64) -> Option<Number> {
            if f.is_finite() {
                Some(Number(N::Float(f)))
            } else {
                None
            }
        }
    }

    impl fmt::Display for Number {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.0 {
                N::PosInt(u) => write!(f, "{}", u),
                N::NegInt(i) => write!(f, "{}", i),
                N::Float(x) => write_float(f, x),
            }
        }
    }

    // serde_json prints floats with ryu: decimal notation for 1e-5 <= |x| <
    // 1e16 with at least one fractional digit, else "1e16" / "1.5e-7".
    fn write_float<W: fmt::Write>(w: &mut W, x: f64) -> fmt::Result {
        let a = x.abs();
        if a != 0.0 && (a < 1e-5 || a >= 1e16) {
            write!(w, "{:e}", x)
        } else {
            let s = format!("{}", x);
            w.write_str(&s)?;
            if !s.contains('.') {
                w.write_str(".0")?;
            }
            Ok(())
        }
    }

    #[derive(Clone, Debug, PartialEq)]
    pub enum Value {
        Null,
        Bool(bool),
        Number(Number),
        String(String),
        Array(Vec<Value>),
        Object(Map),
    }

    impl Value {
        /// The member `key` of an object; None for anything else.
        pub fn get(&self, key: &str) -> Option<&Value> {
            match self {
                Value::Object(m) => m.get(key),
                _ => None,
            }
        }
        pub fn as_i64(&self) -> Option<i64> {
            match self {
                Value::Number(n) => n.as_i64(),
                _ => None,
            }
        }
        pub fn as_u64(&self) -> Option<u64> {
            match self {
                Value::Number(n) => n.as_u64(),
                _ => None,
            }
        }
        pub fn as_f64(&self) -> Option<f64> {
            match self {
                Value::Number(n) => n.as_f64(),
                _ => None,
            }
        }
        pub fn as_str(&self) -> Option<&str> {
            match self {
                Value::String(s) => Some(s),
                _ => None,
            }
        }
        pub fn as_bool(&self) -> Option<bool> {
            match self {
                Value::Bool(b) => Some(*b),
                _ => None,
            }
        }
        pub fn as_object(&self) -> Option<&Map> {
            match self {
                Value::Object(m) => Some(m),
                _ => None,
            }
        }
        pub fn as_array(&self) -> Option<&Vec<Value>> {
            match self {
                Value::Array(a) => Some(a),
                _ => None,
            }
        }
        pub fn is_null(&self) -> bool {
            matches!(self, Value::Null)
        }
    }

    // Conversions used by json! for its member values.
    macro_rules! from_unsigned {
        ($($t:ty)*) => {$(
            impl From<$t> for Value {
                fn from(v: $t) -> Value { Value::Number(Number(N::PosInt(v as u64))) }
            }
        )*};
    }
    macro_rules! from_signed {
        ($($t:ty)*) => {$(
            impl From<$t> for Value {
                fn from(v: $t) -> Value {
                    let v = v as i64;
                    Value::Number(Number(if v < 0 { N::NegInt(v) } else { N::PosInt(v as u64) }))
                }
            }
        )*};
    }
    from_unsigned!(u8 u16 u32 u64 usize);
    from_signed!(i8 i16 i32 i64 isize);

    impl From<f64> for Value {
        fn from(v: f64) -> Value {
            Number::from_f64(v).map_or(Value::Null, Value::Number)
        }
    }
    impl From<f32> for Value {
        fn from(v: f32) -> Value {
            Value::from(v as f64)
        }
    }
    impl From<bool> for Value {
        fn from(v: bool) -> Value {
            Value::Bool(v)
        }
    }
    impl From<String> for Value {
        fn from(v: String) -> Value {
            Value::String(v)
        }
    }
    impl From<&str> for Value {
        fn from(v: &str) -> Value {
            Value::String(v.to_owned())
        }
    }
    impl From<&String> for Value {
        fn from(v: &String) -> Value {
            Value::String(v.clone())
        }
    }
    impl From<Map> for Value {
        fn from(v: Map) -> Value {
            Value::Object(v)
        }
    }
    impl<T: Into<Value>> From<Vec<T>> for Value {
        fn from(v: Vec<T>) -> Value {
            Value::Array(v.into_iter().map(Into::into).collect())
        }
    }
    impl<T: Into<Value>> From<Option<T>> for Value {
        fn from(v: Option<T>) -> Value {
            v.map_or(Value::Null, Into::into)
        }
    }

    // ---- serialisation (serde_json's compact format) ------------------------

    fn write_string<W: fmt::Write>(w: &mut W, s: &str) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        w.write_char('"')?;
        for c in s.chars() {
            match c {
                '"' => w.write_str("\\\"")?,
                '\\' => w.write_str("\\\\")?,
                '\n' => w.write_str("\\n")?,
                '\r' => w.write_str("\\r")?,
                '\t' => w.write_str("\\t")?,
                '\u{08}' => w.write_str("\\b")?,
                '\u{0c}' => w.write_str("\\f")?,
                c if (c as u32) < 0x20 => {
                    let b = c as usize;
                    w.write_str("\\u00")?;
                    w.write_char(HEX[b >> 4] as char)?;
                    w.write_char(HEX[b & 0xf] as char)?;
                }
                c => w.write_char(c)?,
            }
        }
        w.write_char('"')
    }

    fn write_value<W: fmt::Write>(w: &mut W, v: &Value) -> fmt::Result {
        match v {
            Value::Null => w.write_str("null"),
            Value::Bool(b) => w.write_str(if *b { "true" } else { "false" }),
            Value::Number(n) => write!(w, "{}", n),
            Value::String(s) => write_string(w, s),
            Value::Array(a) => {
                w.write_char('[')?;
                for (i, e) in a.iter().enumerate() {
                    if i > 0 {
                        w.write_char(',')?;
                    }
                    write_value(w, e)?;
                }
                w.write_char(']')
            }
            Value::Object(m) => {
                w.write_char('{')?;
                for (i, (k, e)) in m.iter().enumerate() {
                    if i > 0 {
                        w.write_char(',')?;
                    }
                    write_string(w, k)?;
                    w.write_char(':')?;
                    write_value(w, e)?;
                }
                w.write_char('}')
            }
        }
    }

    /// Compact JSON, as serde_json's Display for Value.
    impl fmt::Display for Value {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_value(f, self)
        }
    }

    pub fn to_string(v: &Value) -> String {
        let mut s = String::new();
        write_value(&mut s, v).expect("writing to a String cannot fail");
        s
    }

    pub fn to_vec(v: &Value) -> Vec<u8> {
        to_string(v).into_bytes()
    }

    /// serde serialises Result as an externally tagged enum:
    /// {"Ok":<value>} or {"Err":<value>}.
    pub fn result_to_vec(r: &Result<Value, Value>) -> Vec<u8> {
        let (tag, v) = match r {
            Ok(v) => ("Ok", v),
            Err(v) => ("Err", v),
        };
        let mut s = String::from("{");
        write_string(&mut s, tag).unwrap();
        s.push(':');
        write_value(&mut s, v).unwrap();
        s.push('}');
        s.into_bytes()
    }

    // ---- parsing ------------------------------------------------------------

    /// A parse error with serde_json's position wording.
    #[derive(Debug)]
    pub struct Error {
        message: &'static str,
        line: usize,
        column: usize,
    }

    impl fmt::Display for Error {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{} at line {} column {}", self.message, self.line, self.column)
        }
    }

    impl std::error::Error for Error {}

    const RECURSION_LIMIT: usize = 128; // serde_json's default

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
        depth: usize,
    }

    impl<'a> Parser<'a> {
        fn error(&self, message: &'static str) -> Error {
            let upto = &self.s[..self.i.min(self.s.len())];
            let line = 1 + upto.iter().filter(|&&b| b == b'\n').count();
            let column = upto.iter().rev().take_while(|&&b| b != b'\n').count();
            Error { message, line, column }
        }
        fn peek(&self) -> Option<u8> {
            self.s.get(self.i).copied()
        }
        fn skip_ws(&mut self) {
            while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
                self.i += 1;
            }
        }
        fn expect_lit(&mut self, lit: &[u8], v: Value) -> Result<Value, Error> {
            if self.s[self.i..].starts_with(lit) {
                self.i += lit.len();
                Ok(v)
            } else {
                Err(self.error("expected ident"))
            }
        }
        fn value(&mut self) -> Result<Value, Error> {
            self.skip_ws();
            match self.peek() {
                None => Err(self.error("EOF while parsing a value")),
                Some(b'n') => self.expect_lit(b"null", Value::Null),
                Some(b't') => self.expect_lit(b"true", Value::Bool(true)),
                Some(b'f') => self.expect_lit(b"false", Value::Bool(false)),
                Some(b'"') => Ok(Value::String(self.string()?)),
                Some(b'-' | b'0'..=b'9') => self.number(),
                Some(b'[') => {
                    self.enter()?;
                    self.i += 1;
                    let mut a = Vec::new();
                    self.skip_ws();
                    if self.peek() == Some(b']') {
                        self.i += 1;
                    } else {
                        loop {
                            a.push(self.value()?);
                            self.skip_ws();
                            match self.peek() {
                                Some(b',') => self.i += 1,
                                Some(b']') => {
                                    self.i += 1;
                                    break;
                                }
                                None => return Err(self.error("EOF while parsing a list")),
                                _ => return Err(self.error("expected `,` or `]`")),
                            }
                        }
                    }
                    self.depth -= 1;
                    Ok(Value::Array(a))
                }
                Some(b'{') => {
                    self.enter()?;
                    self.i += 1;
                    let mut m = Map::new();
                    self.skip_ws();
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                    } else {
                        loop {
                            self.skip_ws();
                            match self.peek() {
                                Some(b'"') => {}
                                None => return Err(self.error("EOF while parsing an object")),
                                _ => return Err(self.error("key must be a string")),
                            }
                            let k = self.string()?;
                            self.skip_ws();
                            if self.peek() != Some(b':') {
                                return Err(self.error("expected `:`"));
                            }
                            self.i += 1;
                            let v = self.value()?;
                            m.insert(k, v); // the last duplicate wins, as in serde_json
                            self.skip_ws();
                            match self.peek() {
                                Some(b',') => self.i += 1,
                                Some(b'}') => {
                                    self.i += 1;
                                    break;
                                }
                                None => return Err(self.error("EOF while parsing an object")),
                                _ => return Err(self.error("expected `,` or `}`")),
                            }
                        }
                    }
                    self.depth -= 1;
                    Ok(Value::Object(m))
                }
                _ => Err(self.error("expected value")),
            }
        }
        fn enter(&mut self) -> Result<(), Error> {
            self.depth += 1;
            if self.depth > RECURSION_LIMIT {
                Err(self.error("recursion limit exceeded"))
            } else {
                Ok(())
            }
        }
        fn hex4(&mut self) -> Result<u32, Error> {
            let mut v = 0u32;
            for _ in 0..4 {
                let d = match self.peek() {
                    Some(b) if b.is_ascii_hexdigit() => (b as char).to_digit(16).unwrap(),
                    None => return Err(self.error("EOF while parsing a string")),
                    _ => return Err(self.error("invalid escape")),
                };
                self.i += 1;
                v = v * 16 + d;
            }
            Ok(v)
        }
        fn string(&mut self) -> Result<String, Error> {
            self.i += 1; // the opening quote
            let mut out: Vec<u8> = Vec::new();
            loop {
                let b = match self.peek() {
                    None => return Err(self.error("EOF while parsing a string")),
                    Some(b) => b,
                };
                self.i += 1;
                match b {
                    b'"' => break,
                    b'\\' => {
                        let e = match self.peek() {
                            None => return Err(self.error("EOF while parsing a string")),
                            Some(e) => e,
                        };
                        self.i += 1;
                        let c = match e {
                            b'"' => '"',
                            b'\\' => '\\',
                            b'/' => '/',
                            b'b' => '\u{08}',
                            b'f' => '\u{0c}',
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'u' => {
                                let hi = self.hex4()?;
                                let cp = if (0xD800..0xDC00).contains(&hi) {
                                    if self.s[self.i..].starts_with(b"\\u") {
                                        self.i += 2;
                                        let lo = self.hex4()?;
                                        if !(0xDC00..0xE000).contains(&lo) {
                                            return Err(self.error("lone leading surrogate in hex escape"));
                                        }
                                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                    } else {
                                        return Err(self.error("lone leading surrogate in hex escape"));
                                    }
                                } else if (0xDC00..0xE000).contains(&hi) {
                                    return Err(self.error("lone leading surrogate in hex escape"));
                                } else {
                                    hi
                                };
                                char::from_u32(cp).ok_or_else(|| self.error("invalid unicode code point"))?
                            }
                            _ => return Err(self.error("invalid escape")),
                        };
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                    0..=0x1f => {
                        return Err(self.error("control character (\\u0000-\\u001F) found while parsing a string"))
                    }
                    _ => out.push(b),
                }
            }
            String::from_utf8(out).map_err(|_| self.error("invalid unicode code point"))
        }
        fn number(&mut self) -> Result<Value, Error> {
            let start = self.i;
            let negative = self.peek() == Some(b'-');
            if negative {
                self.i += 1;
            }
            match self.peek() {
                Some(b'0') => {
                    self.i += 1;
                    if let Some(b'0'..=b'9') = self.peek() {
                        return Err(self.error("invalid number"));
                    }
                }
                Some(b'1'..=b'9') => {
                    while let Some(b'0'..=b'9') = self.peek() {
                        self.i += 1;
                    }
                }
                _ => return Err(self.error("invalid number")),
            }
            let mut is_float = false;
            if self.peek() == Some(b'.') {
                is_float = true;
                self.i += 1;
                if !matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.error("invalid number"));
                }
                while let Some(b'0'..=b'9') = self.peek() {
                    self.i += 1;
                }
            }
            if let Some(b'e' | b'E') = self.peek() {
                is_float = true;
                self.i += 1;
                if let Some(b'+' | b'-') = self.peek() {
                    self.i += 1;
                }
                if !matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.error("invalid number"));
                }
                while let Some(b'0'..=b'9') = self.peek() {
                    self.i += 1;
                }
            }
            let text = std::str::from_utf8(&self.s[start..self.i]).unwrap();
            if !is_float {
                if negative {
                    // As serde_json: "-0" is the float -0.0.
                    if let Ok(i) = text.parse::<i64>() {
                        return Ok(Value::Number(Number(if i == 0 { N::Float(-0.0) } else { N::NegInt(i) })));
                    }
                } else if let Ok(u) = text.parse::<u64>() {
                    return Ok(Value::Number(Number(N::PosInt(u))));
                }
            }
            let f: f64 = text.parse().map_err(|_| self.error("invalid number"))?;
            Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| self.error("number out of range"))
        }
    }

    /// Parses one JSON value; only whitespace may follow it.
    pub fn from_slice(s: &[u8]) -> Result<Value, Error> {
        let mut p = Parser { s, i: 0, depth: 0 };
        let v = p.value()?;
        p.skip_ws();
        if p.i != s.len() {
            return Err(p.error("trailing characters"));
        }
        Ok(v)
    }

    pub fn from_str(s: &str) -> Result<Value, Error> {
        from_slice(s.as_bytes())
    }

    pub use crate::__ow_json as json;
}

/// `json!({"key": value, ...})` for flat objects whose values convert
/// `Into<Value>` (nest by building a Value first), `json!(null)`, or
/// `json!(expr)`.
#[doc(hidden)]
#[macro_export]
macro_rules! __ow_json {
    (null) => {
        $crate::ow_wasm_action::serde_json::Value::Null
    };
    ({ $($key:literal : $value:expr),* $(,)? }) => {{
        #[allow(unused_mut)]
        let mut map = $crate::ow_wasm_action::serde_json::Map::new();
        $( map.insert(::std::string::String::from($key), $crate::ow_wasm_action::serde_json::Value::from($value)); )*
        $crate::ow_wasm_action::serde_json::Value::Object(map)
    }};
    ($value:expr) => {
        $crate::ow_wasm_action::serde_json::Value::from($value)
    };
}

/// WOW's macro: turns `fn(serde_json::Value) -> Result<serde_json::Value,
/// anyhow::Error>` into an action speaking WOW's buffer ABI.
#[macro_export]
macro_rules! pass_json {
    ($($t:ident)*) => ($(
        static mut MEMORY_BUFFER: Vec<u8> = Vec::new();

        // Where the buffer is in linear memory: the host writes the
        // parameters there and reads the result from there.
        #[no_mangle]
        pub fn get_wasm_memory_buffer_pointer() -> *mut u8 {
            unsafe { MEMORY_BUFFER.as_mut_ptr() }
        }

        // Makes room for the parameters and sets the length to exactly
        // `num_elems`: the host fills those bytes right after this call.
        #[no_mangle]
        pub fn wasm_memory_buffer_allocate_space(num_elems: usize) {
            unsafe {
                MEMORY_BUFFER.reserve(num_elems);
                MEMORY_BUFFER.set_len(num_elems);
            }
        }

        #[no_mangle]
        pub fn get_wasm_memory_buffer_len() -> usize {
            unsafe { MEMORY_BUFFER.len() }
        }

        pub fn main() {
            let args: Vec<String> = std::env::args().collect();

            // The length of the parameters is the last argument, with or
            // without a program name before it.
            if args.len() > 2 {
                eprintln!("Expected 1 or 2 arguments, got {}: {:?}", args.len(), args);
                return;
            }

            let len: usize = args[args.len() - 1].parse().unwrap();
            let params = {
                let slice = unsafe { &MEMORY_BUFFER[..len] };
                $crate::ow_wasm_action::serde_json::from_slice(slice).expect("Could not deserialize slice")
            };

            let result = $t(params).map_err(|err: $crate::ow_wasm_action::anyhow::Error| {
                $crate::ow_wasm_action::serde_json::json!({ "error": err.to_string() })
            });

            let mut result = $crate::ow_wasm_action::serde_json::result_to_vec(&result);

            unsafe {
                MEMORY_BUFFER.clear();
                MEMORY_BUFFER.append(&mut result);
            }
        }
    )*)
}
