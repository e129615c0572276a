#ifndef INSITU_CWASMTIME_SHIM_H
#define INSITU_CWASMTIME_SHIM_H

/*
 * The part of wasmtime's C API (wasm.h, wasmtime.h, wasi.h of wasmtime 50) that Insitu calls,
 * declared here because the library ships without headers. Nothing links against it: the
 * library is opened at run time (insitu_wasmtime_open) and every function is looked up by name,
 * so the package builds and runs on machines without wasmtime.
 *
 * Only what is called is declared. The by-value structs below copy the layouts of wasmtime 50
 * (wasmtime/extern.h, instance.h); the opaque ones are only ever handled through pointers.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct wasm_config_t wasm_config_t;
typedef struct wasm_engine_t wasm_engine_t;
typedef struct wasm_trap_t wasm_trap_t;
typedef struct wasmtime_error wasmtime_error_t;
typedef struct wasmtime_module wasmtime_module_t;
typedef struct wasmtime_store wasmtime_store_t;
typedef struct wasmtime_context wasmtime_context_t;
typedef struct wasmtime_linker wasmtime_linker_t;
typedef struct wasi_config_t wasi_config_t;

/* wasm_byte_vec_t / wasm_name_t / wasm_message_t. */
typedef struct insitu_wasm_byte_vec {
    size_t size;
    char *data;
} insitu_wasm_byte_vec_t;

typedef struct insitu_wasmtime_instance {
    uint64_t store_id;
    size_t private_index;
} insitu_wasmtime_instance_t;

typedef struct insitu_wasmtime_func {
    uint64_t store_id;
    void *private_pointer;
} insitu_wasmtime_func_t;

/* The store ID and first private field sit in a nested struct (padded to 16 bytes), so the
 * second private field is at offset 16, not 12. */
typedef struct insitu_wasmtime_memory {
    struct {
        uint64_t store_id;
        uint32_t private1;
    } head;
    uint32_t private2;
} insitu_wasmtime_memory_t;

_Static_assert(sizeof(insitu_wasmtime_memory_t) == 24, "wasmtime_memory_t is 24 bytes in wasmtime 50");

/* wasmtime_extern_t: a kind byte and a union whose largest member (wasmtime_global_t) takes
 * 24 bytes; the reserve keeps the struct at least as large as the library's. */
typedef struct insitu_wasmtime_extern {
    uint8_t kind;
    union {
        insitu_wasmtime_func_t func;
        insitu_wasmtime_memory_t memory;
        uint64_t reserve[4];
    } of;
} insitu_wasmtime_extern_t;

enum {
    INSITU_WASMTIME_EXTERN_FUNC = 0,
    INSITU_WASMTIME_EXTERN_MEMORY = 3,
};

enum {
    INSITU_WASMTIME_TRAP_CODE_INTERRUPT = 10,
    INSITU_WASMTIME_TRAP_CODE_OUT_OF_FUEL = 11,
};

/* The functions Insitu calls, looked up by insitu_wasmtime_open. */
typedef struct insitu_wasmtime_api {
    wasm_config_t *(*wasm_config_new)(void);
    void (*wasmtime_config_epoch_interruption_set)(wasm_config_t *, bool);
    void (*wasmtime_config_consume_fuel_set)(wasm_config_t *, bool);
    wasm_engine_t *(*wasm_engine_new_with_config)(wasm_config_t *); /* takes the config */
    void (*wasm_engine_delete)(wasm_engine_t *);
    void (*wasmtime_engine_increment_epoch)(wasm_engine_t *);

    wasmtime_error_t *(*wasmtime_module_new)(wasm_engine_t *, const uint8_t *, size_t, wasmtime_module_t **);
    wasmtime_module_t *(*wasmtime_module_clone)(wasmtime_module_t *);
    void (*wasmtime_module_delete)(wasmtime_module_t *);
    wasmtime_error_t *(*wasmtime_module_serialize)(wasmtime_module_t *, insitu_wasm_byte_vec_t *);
    wasmtime_error_t *(*wasmtime_module_deserialize)(wasm_engine_t *, const uint8_t *, size_t, wasmtime_module_t **);

    wasmtime_store_t *(*wasmtime_store_new)(wasm_engine_t *, void *, void (*)(void *));
    wasmtime_context_t *(*wasmtime_store_context)(wasmtime_store_t *);
    void (*wasmtime_store_limiter)(wasmtime_store_t *, int64_t, int64_t, int64_t, int64_t, int64_t);
    void (*wasmtime_store_epoch_deadline_callback)(
        wasmtime_store_t *,
        wasmtime_error_t *(*)(wasmtime_context_t *, void *, uint64_t *, uint8_t *),
        void *, void (*)(void *));
    void (*wasmtime_store_delete)(wasmtime_store_t *);
    void (*wasmtime_context_set_epoch_deadline)(wasmtime_context_t *, uint64_t);
    wasmtime_error_t *(*wasmtime_context_set_fuel)(wasmtime_context_t *, uint64_t);
    wasmtime_error_t *(*wasmtime_context_set_wasi)(wasmtime_context_t *, wasi_config_t *); /* takes the config */

    wasi_config_t *(*wasi_config_new)(void);
    void (*wasi_config_delete)(wasi_config_t *);
    bool (*wasi_config_set_argv)(wasi_config_t *, size_t, const char *const *);
    bool (*wasi_config_set_env)(wasi_config_t *, size_t, const char *const *, const char *const *);
    void (*wasi_config_set_stdout_custom)(
        wasi_config_t *, ssize_t (*)(void *, const unsigned char *, size_t), void *, void (*)(void *));
    void (*wasi_config_set_stderr_custom)(
        wasi_config_t *, ssize_t (*)(void *, const unsigned char *, size_t), void *, void (*)(void *));
    bool (*wasi_config_preopen_dir)(wasi_config_t *, const char *, const char *, bool);

    wasmtime_linker_t *(*wasmtime_linker_new)(wasm_engine_t *);
    wasmtime_error_t *(*wasmtime_linker_define_wasi)(wasmtime_linker_t *);
    wasmtime_error_t *(*wasmtime_linker_instantiate)(
        const wasmtime_linker_t *, wasmtime_context_t *, const wasmtime_module_t *, insitu_wasmtime_instance_t *,
        wasm_trap_t **);
    void (*wasmtime_linker_delete)(wasmtime_linker_t *);

    bool (*wasmtime_instance_export_get)(
        wasmtime_context_t *, const insitu_wasmtime_instance_t *, const char *, size_t, insitu_wasmtime_extern_t *);
    void (*wasmtime_extern_delete)(insitu_wasmtime_extern_t *);
    wasmtime_error_t *(*wasmtime_func_call)(
        wasmtime_context_t *, const insitu_wasmtime_func_t *, const void *, size_t, void *, size_t, wasm_trap_t **);
    size_t (*wasmtime_memory_data_size)(const wasmtime_context_t *, const insitu_wasmtime_memory_t *);

    wasmtime_error_t *(*wasmtime_error_new)(const char *);
    void (*wasmtime_error_message)(const wasmtime_error_t *, insitu_wasm_byte_vec_t *);
    bool (*wasmtime_error_exit_status)(const wasmtime_error_t *, int *);
    void (*wasmtime_error_delete)(wasmtime_error_t *);
    void (*wasm_trap_message)(const wasm_trap_t *, insitu_wasm_byte_vec_t *);
    bool (*wasmtime_trap_code)(const wasm_trap_t *, uint8_t *);
    void (*wasm_trap_delete)(wasm_trap_t *);
    void (*wasm_byte_vec_delete)(insitu_wasm_byte_vec_t *);
} insitu_wasmtime_api_t;

/*
 * Opens the library at `path` and fills `api`. Returns 0 on success; otherwise writes what went
 * wrong (the loader's message, or the first missing function) to `error` and returns -1. The
 * library stays loaded for the life of the process.
 */
int insitu_wasmtime_open(const char *path, insitu_wasmtime_api_t *api, char *error, size_t error_size);

/*
 * One run's stop request, read by the store's epoch-deadline callback. The agent sets `stop`
 * (from any thread) and then increments the engine's epoch: every running store's callback runs
 * once; the one whose control is set traps, the others carry on for another epoch.
 */
typedef struct insitu_run_control insitu_run_control_t;

enum { INSITU_RUN_CONTINUE = 0, INSITU_RUN_STOP_TIMEOUT = 1, INSITU_RUN_STOP_CANCEL = 2 };

insitu_run_control_t *insitu_run_control_new(wasmtime_error_t *(*error_new)(const char *));
void insitu_run_control_free(insitu_run_control_t *control);
void insitu_run_control_request_stop(insitu_run_control_t *control, int reason);
int insitu_run_control_stop_reason(insitu_run_control_t *control);

/* The epoch-deadline callback: data is an insitu_run_control_t. */
wasmtime_error_t *insitu_epoch_deadline_callback(
    wasmtime_context_t *context, void *data, uint64_t *epoch_deadline_delta, uint8_t *update_kind);

/* A WASI stdout/stderr sink that writes to the file descriptor stored in data (as intptr_t),
 * retrying short writes and EINTR. */
ssize_t insitu_write_to_fd(void *data, const unsigned char *buffer, size_t length);

#endif
