//! RustHello: a jobhost plugin in Rust, standard library only. Build it with
//!   cargo build --release --offline --manifest-path Plugins/RustHello/Cargo.toml
//! and ship target/release/libRustHello.so.
//!
//! Handlers:
//!   rust.hello  {"name": "Ada", "times": 1, "pause_ms": 0}  logs a greeting `times` times
//!   rust.sum    [1, 2.5, 3]                                 sums the numbers; the sum is the job's result
// The library must be called libRustHello.so (the host looks for lib<Name>.so, Name as in the config).
#![allow(non_snake_case)]

mod abi;
mod json;

use abi::*;
use json::Value;
use std::os::raw::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::Duration;

/// A NUL-terminated string literal, as a C pointer.
macro_rules! cstr {
    ($text:expr) => {
        concat!($text, "\0").as_ptr() as *const c_char
    };
}

static HANDLERS: Shared<[JhHandlerDef; 2]> = Shared([
    JhHandlerDef {
        name: cstr!("rust.hello"),
        description: cstr!("Logs a greeting for {\"name\": …} `times` times, `pause_ms` apart"),
        default_timeout_ms: 0,
        reserved: 0,
        run: Some(run_hello),
        handler_data: std::ptr::null_mut(),
    },
    JhHandlerDef {
        name: cstr!("rust.sum"),
        description: cstr!("Sums a JSON array of numbers; the sum is the job's result"),
        default_timeout_ms: 5000,
        reserved: 0,
        run: Some(run_sum),
        handler_data: std::ptr::null_mut(),
    },
]);

static DESCRIPTOR: Shared<JhPluginDescriptor> = Shared(JhPluginDescriptor {
    abi_major: JH_ABI_MAJOR,
    abi_minor: JH_ABI_MINOR,
    descriptor_size: std::mem::size_of::<JhPluginDescriptor>() as u32,
    handler_size: std::mem::size_of::<JhHandlerDef>() as u32,
    name: cstr!("rust-hello"),
    version: cstr!("1.0.0"),
    description: cstr!("Greets and sums; a plugin in Rust, standard library only"),
    handlers: &HANDLERS.0 as *const [JhHandlerDef; 2] as *const JhHandlerDef,
    handler_count: 2,
    reserved: 0,
    init: Some(init),
    shutdown: None,
});

/// The one symbol the host looks up.
#[no_mangle]
pub extern "C" fn jh_plugin_entry() -> *const JhPluginDescriptor {
    &DESCRIPTOR.0
}

/// The sizes and offsets of the ABI structs as this crate declares them, for the host's layout test
/// (not part of the ABI; the host never calls it). Fills up to `capacity` entries of `entries` and
/// returns how many there are; the names are static strings.
#[no_mangle]
pub extern "C" fn jh_rust_layout(entries: *mut LayoutEntry, capacity: usize) -> usize {
    let layout = abi::layout();
    if !entries.is_null() {
        for (index, entry) in layout.iter().take(capacity).enumerate() {
            unsafe { entries.add(index).write(LayoutEntry { name: entry.name, value: entry.value }) };
        }
    }
    layout.len()
}

// ---------------------------------------------------------------------------------------------
// The host's services
// ---------------------------------------------------------------------------------------------

/// The host's service table and the job's context, for one call.
///
/// It keeps a raw pointer, not a `&JhHost`: a host of an older minor hands a shorter table, and a
/// Rust reference to a struct must cover all of it. Fields are read one at a time, and a field
/// appended after 1.0 only once `struct_size` says the table has it.
struct Host {
    table: *const JhHost,
    ctx: *mut JhContext,
}

impl Host {
    fn log(&self, level: i32, message: &str) {
        if let Some(log) = unsafe { (*self.table).log } {
            log(self.ctx, level, message.as_ptr() as *const c_char, message.len());
        }
    }

    fn is_cancelled(&self) -> bool {
        match unsafe { (*self.table).is_cancelled } {
            Some(is_cancelled) => is_cancelled(self.ctx) != 0,
            None => false,
        }
    }

    fn heartbeat(&self, progress: f64, note: &str) {
        if let Some(heartbeat) = unsafe { (*self.table).heartbeat } {
            heartbeat(self.ctx, progress, note.as_ptr() as *const c_char, note.len());
        }
    }

    /// The error text of a RETRY or DISCARD; the host copies it.
    fn set_error(&self, message: &str) {
        if let Some(set_error) = unsafe { (*self.table).set_error } {
            set_error(self.ctx, message.as_ptr() as *const c_char, message.len());
        }
    }

    /// The job's result (ABI 1.1). False when the host is older than 1.1 or refused the JSON.
    fn set_result(&self, json: &str) -> bool {
        // JH_HAS_FIELD(host, struct_size, jh_host, set_result), by hand.
        let size = unsafe { (*self.table).struct_size } as usize;
        let offset = unsafe { std::ptr::addr_of!((*self.table).set_result) as usize - self.table as usize };
        if size < offset + std::mem::size_of::<Option<SetResultFn>>() {
            return false;
        }
        match unsafe { std::ptr::addr_of!((*self.table).set_result).read() } {
            Some(set_result) => set_result(self.ctx, json.as_ptr(), json.len()) == JH_OK,
            None => false,
        }
    }
}

/// What a handler decided.
enum Outcome {
    Success,
    Retry(String),
    Discard(String),
}

/// The job as the handlers use it: borrowed from the host until the handler returns.
struct Job<'a> {
    id: &'a str,
    attempt: u32,
    payload: &'a [u8],
}

/// Runs a handler body with the host's pointers checked, turns its outcome into the ABI's, and keeps
/// a panic from unwinding into the host (undefined behaviour across `extern "C"`): a panic retries
/// the job with the panic's message.
fn run_handler(host: *const JhHost, ctx: *mut JhContext, job: *const JhJob, body: fn(&Host, &Job) -> Outcome) -> i32 {
    if host.is_null() || job.is_null() {
        return JH_DISCARD;
    }
    let host = Host { table: host, ctx };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let job = unsafe { &*job };
        let id = unsafe { std::ffi::CStr::from_ptr(job.id) }.to_str().unwrap_or("?");
        let payload = if job.payload.is_null() {
            &[][..]
        } else {
            unsafe { std::slice::from_raw_parts(job.payload, job.payload_len) }
        };
        body(&host, &Job { id, attempt: job.attempt, payload })
    }))
    .unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|text| text.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_string());
        Outcome::Retry(format!("the handler panicked: {}", message))
    });
    match outcome {
        Outcome::Success => JH_SUCCESS,
        Outcome::Retry(reason) => {
            host.set_error(&reason);
            JH_RETRY
        }
        Outcome::Discard(reason) => {
            host.set_error(&reason);
            JH_DISCARD
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

extern "C" fn run_hello(host: *const JhHost, ctx: *mut JhContext, job: *const JhJob, _data: *mut c_void) -> i32 {
    run_handler(host, ctx, job, hello)
}

extern "C" fn run_sum(host: *const JhHost, ctx: *mut JhContext, job: *const JhJob, _data: *mut c_void) -> i32 {
    run_handler(host, ctx, job, sum)
}

/// The greeting the config chose; set by init, before any handler runs.
static GREETING: Mutex<Option<String>> = Mutex::new(None);

/// Logs "<greeting>, <name>!" `times` times, `pause_ms` apart. Nothing but log lines comes of it,
/// so running it twice for one job id (at-least-once delivery) does no harm.
fn hello(host: &Host, job: &Job) -> Outcome {
    let payload = match json::parse(job.payload) {
        Ok(value) => value,
        Err(error) => return Outcome::Discard(format!("payload: {}", error)),
    };
    let name = match payload.get("name") {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        Some(other) => return Outcome::Discard(format!("payload.name: expected a non-empty string, found {}", other.kind())),
        None => return Outcome::Discard("payload.name: missing; send {\"name\": \"Ada\"}".to_string()),
    };
    let times = match payload.get("times") {
        None => 1,
        Some(Value::Number(n)) if n.fract() == 0.0 && *n >= 1.0 && *n <= 10_000.0 => *n as u32,
        Some(_) => return Outcome::Discard("payload.times: expected a whole number from 1 to 10000".to_string()),
    };
    let pause = match payload.get("pause_ms") {
        None => Duration::ZERO,
        Some(Value::Number(n)) if n.fract() == 0.0 && *n >= 0.0 && *n <= 60_000.0 => Duration::from_millis(*n as u64),
        Some(_) => return Outcome::Discard("payload.pause_ms: expected a whole number from 0 to 60000".to_string()),
    };
    let greeting = GREETING.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone().unwrap_or_else(|| "Hello".to_string());
    for done in 0..times {
        // The deadline passed or the host is shutting down: stop now, and let the job run again.
        if host.is_cancelled() {
            return Outcome::Retry(format!("cancelled after {} of {} greetings", done, times));
        }
        host.log(JH_LOG_INFO, &format!("{}, {}! (job {}, attempt {})", greeting, name, job.id, job.attempt));
        host.heartbeat(f64::from(done + 1) / f64::from(times), "greeting");
        if !pause.is_zero() && done + 1 < times {
            std::thread::sleep(pause);
        }
    }
    Outcome::Success
}

/// Sums a JSON array of numbers and records `{"sum": …, "count": …}` as the job's result.
fn sum(host: &Host, job: &Job) -> Outcome {
    let numbers = match json::parse(job.payload) {
        Ok(Value::Array(items)) => items,
        Ok(other) => return Outcome::Discard(format!("payload: expected an array of numbers such as [1, 2.5], found {}", other.kind())),
        Err(error) => return Outcome::Discard(format!("payload: {}", error)),
    };
    let mut total = 0.0;
    for (index, item) in numbers.iter().enumerate() {
        if host.is_cancelled() {
            return Outcome::Retry(format!("cancelled after {} of {} numbers", index, numbers.len()));
        }
        match item {
            Value::Number(n) => total += n,
            other => return Outcome::Discard(format!("payload[{}]: expected a number, found {}", index, other.kind())),
        }
    }
    if !total.is_finite() {
        return Outcome::Discard("the sum is too large for a 64-bit float".to_string());
    }
    host.log(JH_LOG_INFO, &format!("sum of {} numbers: {}", numbers.len(), total));
    if !host.set_result(&format!("{{\"sum\": {}, \"count\": {}}}", total, numbers.len())) {
        host.log(JH_LOG_WARNING, "this host keeps no results (ABI 1.0); the sum is only in this log line");
    }
    Outcome::Success
}

// ---------------------------------------------------------------------------------------------
// init: the plugin's config block
// ---------------------------------------------------------------------------------------------

/// Reads `config:` ({"greeting": "Hi"}). Every bad key is reported as one `config.<key>: <message>`
/// line, and the host refuses the plugin with them.
extern "C" fn init(
    host: *const JhHost,
    config_json: *const c_char,
    config_len: usize,
    error_out: *mut c_char,
    error_capacity: usize,
) -> i32 {
    let config = if config_json.is_null() {
        &b"{}"[..]
    } else {
        unsafe { std::slice::from_raw_parts(config_json as *const u8, config_len) }
    };
    let result = catch_unwind(|| read_config(config)).unwrap_or_else(|_| Err(vec!["config: reading it panicked".to_string()]));
    match result {
        Ok(greeting) => {
            if !host.is_null() {
                let host = Host { table: host, ctx: std::ptr::null_mut() };
                host.log(JH_LOG_INFO, &format!("ready; greeting {}", json::quote(&greeting)));
            }
            *GREETING.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(greeting);
            JH_OK
        }
        Err(problems) => {
            write_c_string(&problems.join("\n"), error_out, error_capacity);
            JH_ERROR
        }
    }
}

fn read_config(config: &[u8]) -> Result<String, Vec<String>> {
    let members = match json::parse(config) {
        Ok(Value::Object(members)) => members,
        Ok(other) => return Err(vec![format!("config: expected a mapping, found {}", other.kind())]),
        Err(error) => return Err(vec![format!("config: {}", error)]),
    };
    let mut greeting = "Hello".to_string();
    let mut problems = Vec::new();
    for (key, value) in members {
        match (key.as_str(), value) {
            ("greeting", Value::String(text)) if !text.is_empty() => greeting = text,
            ("greeting", other) => problems.push(format!("config.greeting: expected a non-empty string, found {}", other.kind())),
            (unknown, _) => problems.push(format!("config.{}: unknown key; this plugin reads only 'greeting'", unknown)),
        }
    }
    if problems.is_empty() {
        Ok(greeting)
    } else {
        Err(problems)
    }
}

/// Copies `text` into the host's buffer, NUL-terminated, cut to fit at a character boundary.
fn write_c_string(text: &str, out: *mut c_char, capacity: usize) {
    if out.is_null() || capacity == 0 {
        return;
    }
    let mut length = text.len().min(capacity - 1);
    while !text.is_char_boundary(length) {
        length -= 1;
    }
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), out as *mut u8, length);
        *out.add(length) = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_problems_name_their_keys() {
        assert_eq!(read_config(b"{}").unwrap(), "Hello");
        assert_eq!(read_config(br#"{"greeting": "Hi"}"#).unwrap(), "Hi");
        let problems = read_config(br#"{"greting": "Hi", "greeting": 3}"#).unwrap_err();
        assert_eq!(problems.len(), 2);
        assert!(problems[0].starts_with("config.greting: unknown key"));
        assert!(problems[1].starts_with("config.greeting: expected a non-empty string"));
    }

    #[test]
    fn c_strings_are_cut_at_a_character_boundary() {
        let mut buffer = [1 as c_char; 4];
        write_c_string("aé€", buffer.as_mut_ptr(), buffer.len());
        assert_eq!(buffer[..4], [b'a' as c_char, 0xC3u8 as c_char, 0xA9u8 as c_char, 0]);
    }
}
