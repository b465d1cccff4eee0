//! The jobhost plugin ABI, version 1.1, declared by hand from `Sources/JobHostABI/include/jobhost.h`.
//!
//! Every struct is `#[repr(C)]` with the fields in the header's order and of the same C types, so
//! Rust lays them out as a C compiler does. `jh_rust_layout` (in lib.rs) exports the sizes and
//! offsets computed here; the host's tests compare them with a C program compiled against the
//! header, so a field declared wrong here fails a test instead of corrupting memory.
//!
//! Function pointers are `Option<extern "C" fn>`: a C NULL is `None`, never an invalid `fn`.

use std::os::raw::{c_char, c_void};

pub const JH_ABI_MAJOR: u32 = 1;
/// The minor this plugin was written against: it knows `jh_host.set_result`.
pub const JH_ABI_MINOR: u32 = 1;

// jh_outcome
pub const JH_SUCCESS: i32 = 0;
pub const JH_RETRY: i32 = 1;
pub const JH_DISCARD: i32 = 2;

// jh_status
pub const JH_OK: i32 = 0;
pub const JH_ERROR: i32 = 1;

// jh_log_level (a C enum: an `int`)
pub const JH_LOG_INFO: i32 = 2;
pub const JH_LOG_WARNING: i32 = 3;

/// Opaque, owned by the host. Only ever used behind a pointer.
#[repr(C)]
pub struct JhContext {
    _private: [u8; 0],
}

/// `jh_job`: one job, borrowed from the host for the length of the handler call.
#[repr(C)]
pub struct JhJob {
    pub struct_size: u32,
    pub attempt: u32,
    pub max_attempts: u32,
    pub reserved: u32,
    pub id: *const c_char,
    pub handler: *const c_char,
    pub queue: *const c_char,
    pub payload: *const u8,
    pub payload_len: usize,
    pub deadline_unix_ms: i64,
    pub enqueued_at_unix_ms: i64,
}

/// `jh_enqueue_request`: a job a handler asks the host to enqueue.
#[repr(C)]
pub struct JhEnqueueRequest {
    pub struct_size: u32,
    pub max_attempts: u32,
    pub handler: *const c_char,
    pub payload: *const u8,
    pub payload_len: usize,
    pub queue: *const c_char,
    pub delay_ms: i64,
    pub unique_key: *const c_char,
}

pub type LogFn = extern "C" fn(ctx: *mut JhContext, level: i32, message: *const c_char, message_len: usize);
pub type IsCancelledFn = extern "C" fn(ctx: *mut JhContext) -> i32;
pub type EnqueueFn =
    extern "C" fn(ctx: *mut JhContext, request: *const JhEnqueueRequest, id_out: *mut c_char, id_capacity: usize) -> i32;
pub type HeartbeatFn = extern "C" fn(ctx: *mut JhContext, progress: f64, note: *const c_char, note_len: usize);
pub type SetErrorFn = extern "C" fn(ctx: *mut JhContext, message: *const c_char, message_len: usize);
pub type SetRetryDelayFn = extern "C" fn(ctx: *mut JhContext, delay_ms: i64);
pub type SetResultFn = extern "C" fn(ctx: *mut JhContext, json: *const u8, json_len: usize) -> i32;

/// `jh_host`: the host's services. A host of an older minor hands a shorter table: read a field
/// appended after 1.0 only when `struct_size` covers it (see `Host::set_result` in lib.rs).
#[repr(C)]
pub struct JhHost {
    pub struct_size: u32,
    pub abi_major: u32,
    pub abi_minor: u32,
    pub reserved: u32,
    pub log: Option<LogFn>,
    pub is_cancelled: Option<IsCancelledFn>,
    pub enqueue: Option<EnqueueFn>,
    pub heartbeat: Option<HeartbeatFn>,
    pub set_error: Option<SetErrorFn>,
    pub set_retry_delay: Option<SetRetryDelayFn>,
    /// ABI 1.1.
    pub set_result: Option<SetResultFn>,
}

pub type HandlerFn = extern "C" fn(host: *const JhHost, ctx: *mut JhContext, job: *const JhJob, data: *mut c_void) -> i32;
pub type InitFn = extern "C" fn(
    host: *const JhHost,
    config_json: *const c_char,
    config_len: usize,
    error_out: *mut c_char,
    error_capacity: usize,
) -> i32;
pub type ShutdownFn = extern "C" fn(host: *const JhHost);

/// `jh_handler_def`: one handler the plugin offers.
#[repr(C)]
pub struct JhHandlerDef {
    pub name: *const c_char,
    pub description: *const c_char,
    pub default_timeout_ms: u32,
    pub reserved: u32,
    pub run: Option<HandlerFn>,
    pub handler_data: *mut c_void,
}

/// `jh_plugin_descriptor`: what `jh_plugin_entry` returns.
#[repr(C)]
pub struct JhPluginDescriptor {
    pub abi_major: u32,
    pub abi_minor: u32,
    pub descriptor_size: u32,
    pub handler_size: u32,
    pub name: *const c_char,
    pub version: *const c_char,
    pub description: *const c_char,
    pub handlers: *const JhHandlerDef,
    pub handler_count: u32,
    pub reserved: u32,
    pub init: Option<InitFn>,
    pub shutdown: Option<ShutdownFn>,
}

/// A value the host reads from static storage on any thread. Raw pointers are not `Sync` in Rust;
/// these point only at other statics (string literals, the handler array) and are never written, so
/// sharing them between threads is safe.
pub struct Shared<T>(pub T);
unsafe impl<T> Sync for Shared<T> {}

/// One line of `jh_rust_layout`: a struct's size (`jh_job.size`) or a field's offset (`jh_job.id`).
#[repr(C)]
pub struct LayoutEntry {
    pub name: *const c_char,
    pub value: u64,
}

/// The offset of a field, without `std::mem::offset_of!` (Rust 1.77), so the crate builds with
/// Debian 12's Rust 1.63. `addr_of!` takes the address without reading the uninitialised value.
macro_rules! offset_of {
    ($type:ty, $field:ident) => {{
        let value = std::mem::MaybeUninit::<$type>::uninit();
        let base = value.as_ptr();
        #[allow(unused_unsafe)]
        let field = unsafe { std::ptr::addr_of!((*base).$field) };
        (field as usize - base as usize) as u64
    }};
}

macro_rules! entry {
    ($name:expr, $value:expr) => {
        LayoutEntry { name: concat!($name, "\0").as_ptr() as *const c_char, value: $value }
    };
}

macro_rules! size {
    ($type:ty, $name:expr) => {
        entry!(concat!($name, ".size"), std::mem::size_of::<$type>() as u64)
    };
}

macro_rules! field {
    ($type:ty, $name:expr, $field:ident) => {
        entry!(concat!($name, ".", stringify!($field)), offset_of!($type, $field))
    };
}

/// Every struct's size and every field's offset, as this crate compiled them.
pub fn layout() -> Vec<LayoutEntry> {
    vec![
        size!(JhJob, "jh_job"),
        field!(JhJob, "jh_job", struct_size),
        field!(JhJob, "jh_job", attempt),
        field!(JhJob, "jh_job", max_attempts),
        field!(JhJob, "jh_job", reserved),
        field!(JhJob, "jh_job", id),
        field!(JhJob, "jh_job", handler),
        field!(JhJob, "jh_job", queue),
        field!(JhJob, "jh_job", payload),
        field!(JhJob, "jh_job", payload_len),
        field!(JhJob, "jh_job", deadline_unix_ms),
        field!(JhJob, "jh_job", enqueued_at_unix_ms),
        size!(JhEnqueueRequest, "jh_enqueue_request"),
        field!(JhEnqueueRequest, "jh_enqueue_request", struct_size),
        field!(JhEnqueueRequest, "jh_enqueue_request", max_attempts),
        field!(JhEnqueueRequest, "jh_enqueue_request", handler),
        field!(JhEnqueueRequest, "jh_enqueue_request", payload),
        field!(JhEnqueueRequest, "jh_enqueue_request", payload_len),
        field!(JhEnqueueRequest, "jh_enqueue_request", queue),
        field!(JhEnqueueRequest, "jh_enqueue_request", delay_ms),
        field!(JhEnqueueRequest, "jh_enqueue_request", unique_key),
        size!(JhHost, "jh_host"),
        field!(JhHost, "jh_host", struct_size),
        field!(JhHost, "jh_host", abi_major),
        field!(JhHost, "jh_host", abi_minor),
        field!(JhHost, "jh_host", reserved),
        field!(JhHost, "jh_host", log),
        field!(JhHost, "jh_host", is_cancelled),
        field!(JhHost, "jh_host", enqueue),
        field!(JhHost, "jh_host", heartbeat),
        field!(JhHost, "jh_host", set_error),
        field!(JhHost, "jh_host", set_retry_delay),
        field!(JhHost, "jh_host", set_result),
        size!(JhHandlerDef, "jh_handler_def"),
        field!(JhHandlerDef, "jh_handler_def", name),
        field!(JhHandlerDef, "jh_handler_def", description),
        field!(JhHandlerDef, "jh_handler_def", default_timeout_ms),
        field!(JhHandlerDef, "jh_handler_def", reserved),
        field!(JhHandlerDef, "jh_handler_def", run),
        field!(JhHandlerDef, "jh_handler_def", handler_data),
        size!(JhPluginDescriptor, "jh_plugin_descriptor"),
        field!(JhPluginDescriptor, "jh_plugin_descriptor", abi_major),
        field!(JhPluginDescriptor, "jh_plugin_descriptor", abi_minor),
        field!(JhPluginDescriptor, "jh_plugin_descriptor", descriptor_size),
        field!(JhPluginDescriptor, "jh_plugin_descriptor", handler_size),
        field!(JhPluginDescriptor, "jh_plugin_descriptor", name),
        field!(JhPluginDescriptor, "jh_plugin_descriptor", version),
        field!(JhPluginDescriptor, "jh_plugin_descriptor", description),
        field!(JhPluginDescriptor, "jh_plugin_descriptor", handlers),
        field!(JhPluginDescriptor, "jh_plugin_descriptor", handler_count),
        field!(JhPluginDescriptor, "jh_plugin_descriptor", reserved),
        field!(JhPluginDescriptor, "jh_plugin_descriptor", init),
        field!(JhPluginDescriptor, "jh_plugin_descriptor", shutdown),
    ]
}
