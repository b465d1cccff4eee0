// The ABI is a memory layout: these checks fail the build if a change to jobhost.h moves a field
// that version 1.0 plugins rely on.
#include "jobhost.h"

_Static_assert(sizeof(void *) == 8, "jobhost plugins are 64-bit only");
_Static_assert(offsetof(jh_plugin_descriptor, abi_major) == 0, "abi_major must come first");
_Static_assert(offsetof(jh_plugin_descriptor, descriptor_size) == 8, "descriptor_size must stay at offset 8");
_Static_assert(offsetof(jh_plugin_descriptor, shutdown) + sizeof(jh_shutdown_fn) == JH_DESCRIPTOR_SIZE_1_0,
               "fields of ABI 1.0's descriptor moved");
_Static_assert(offsetof(jh_handler_def, handler_data) + sizeof(void *) == JH_HANDLER_SIZE_1_0,
               "fields of ABI 1.0's handler definition moved");
_Static_assert(offsetof(jh_job, enqueued_at_unix_ms) == 64, "fields of ABI 1.0's job moved");
_Static_assert(offsetof(jh_host, set_retry_delay) == 56, "fields of ABI 1.0's host table moved");
_Static_assert(offsetof(jh_enqueue_request, unique_key) + sizeof(char *) == JH_ENQUEUE_REQUEST_SIZE_1_0,
               "fields of ABI 1.0's enqueue request moved");
_Static_assert(offsetof(jh_host, set_retry_delay) + sizeof(void *) == JH_HOST_SIZE_1_0, "ABI 1.0's host table must end at set_retry_delay");
_Static_assert(offsetof(jh_host, set_result) == JH_HOST_SIZE_1_0, "1.1's set_result is appended right after 1.0's host table");
