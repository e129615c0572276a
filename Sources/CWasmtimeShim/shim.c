#include "CWasmtimeShim.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int insitu_wasmtime_open(const char *path, insitu_wasmtime_api_t *api, char *error, size_t error_size) {
    /* RTLD_LOCAL: the library's symbols stay out of the process's global namespace. */
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *message = dlerror();
        snprintf(error, error_size, "%s", message ? message : "dlopen failed");
        return -1;
    }
#define LOOKUP(name)                                                                              \
    do {                                                                                          \
        void *symbol = dlsym(handle, #name);                                                      \
        if (!symbol) {                                                                            \
            snprintf(error, error_size, "%s does not export %s (is it wasmtime 50 or later?)", path, #name); \
            dlclose(handle);                                                                      \
            return -1;                                                                            \
        }                                                                                         \
        memcpy(&api->name, &symbol, sizeof symbol);                                               \
    } while (0)
    LOOKUP(wasm_config_new);
    LOOKUP(wasmtime_config_epoch_interruption_set);
    LOOKUP(wasmtime_config_consume_fuel_set);
    LOOKUP(wasm_engine_new_with_config);
    LOOKUP(wasm_engine_delete);
    LOOKUP(wasmtime_engine_increment_epoch);
    LOOKUP(wasmtime_module_new);
    LOOKUP(wasmtime_module_clone);
    LOOKUP(wasmtime_module_delete);
    LOOKUP(wasmtime_module_serialize);
    LOOKUP(wasmtime_module_deserialize);
    LOOKUP(wasmtime_store_new);
    LOOKUP(wasmtime_store_context);
    LOOKUP(wasmtime_store_limiter);
    LOOKUP(wasmtime_store_epoch_deadline_callback);
    LOOKUP(wasmtime_store_delete);
    LOOKUP(wasmtime_context_set_epoch_deadline);
    LOOKUP(wasmtime_context_set_fuel);
    LOOKUP(wasmtime_context_set_wasi);
    LOOKUP(wasi_config_new);
    LOOKUP(wasi_config_delete);
    LOOKUP(wasi_config_set_argv);
    LOOKUP(wasi_config_set_env);
    LOOKUP(wasi_config_set_stdout_custom);
    LOOKUP(wasi_config_set_stderr_custom);
    LOOKUP(wasi_config_preopen_dir);
    LOOKUP(wasmtime_linker_new);
    LOOKUP(wasmtime_linker_define_wasi);
    LOOKUP(wasmtime_linker_instantiate);
    LOOKUP(wasmtime_linker_delete);
    LOOKUP(wasmtime_instance_export_get);
    LOOKUP(wasmtime_extern_delete);
    LOOKUP(wasmtime_func_call);
    LOOKUP(wasmtime_memory_data_size);
    LOOKUP(wasmtime_error_new);
    LOOKUP(wasmtime_error_message);
    LOOKUP(wasmtime_error_exit_status);
    LOOKUP(wasmtime_error_delete);
    LOOKUP(wasm_trap_message);
    LOOKUP(wasmtime_trap_code);
    LOOKUP(wasm_trap_delete);
    LOOKUP(wasm_byte_vec_delete);
#undef LOOKUP
    return 0;
}

struct insitu_run_control {
    _Atomic int stop;
    wasmtime_error_t *(*error_new)(const char *);
};

insitu_run_control_t *insitu_run_control_new(wasmtime_error_t *(*error_new)(const char *)) {
    insitu_run_control_t *control = malloc(sizeof *control);
    if (!control) return NULL;
    atomic_init(&control->stop, INSITU_RUN_CONTINUE);
    control->error_new = error_new;
    return control;
}

void insitu_run_control_free(insitu_run_control_t *control) { free(control); }

void insitu_run_control_request_stop(insitu_run_control_t *control, int reason) {
    int expected = INSITU_RUN_CONTINUE;
    /* The first reason wins: a timeout that fires after a cancellation stays a cancellation. */
    atomic_compare_exchange_strong(&control->stop, &expected, reason);
}

int insitu_run_control_stop_reason(insitu_run_control_t *control) { return atomic_load(&control->stop); }

wasmtime_error_t *insitu_epoch_deadline_callback(
    wasmtime_context_t *context, void *data, uint64_t *epoch_deadline_delta, uint8_t *update_kind) {
    (void)context;
    insitu_run_control_t *control = data;
    if (atomic_load(&control->stop) != INSITU_RUN_CONTINUE) {
        return control->error_new("insitu: the run was stopped");
    }
    /* Another run's stop advanced the shared epoch: keep going until the next one. */
    *epoch_deadline_delta = 1;
    *update_kind = 0; /* WASMTIME_UPDATE_DEADLINE_CONTINUE */
    return NULL;
}

ssize_t insitu_write_to_fd(void *data, const unsigned char *buffer, size_t length) {
    int fd = (int)(intptr_t)data;
    size_t written = 0;
    while (written < length) {
        ssize_t count = write(fd, buffer + written, length - written);
        if (count < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        written += (size_t)count;
    }
    return (ssize_t)length;
}
