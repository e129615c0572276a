/*
 * count_conditions: the Insitu demo job.
 *
 * Reads /data/patients.csv (header: patient_id,age,sex,condition,admitted; the condition column
 * is found by name), counts rows per condition, and prints
 *   {"site":"<site>","rows":N,"counts":{"asthma":12,...}}
 * where <site> is the node's `site` label (INSITU_LABEL_SITE, set by the node), else $SITE,
 * else "unknown"
 * (keys sorted) to stdout and to /outputs/counts.json. Exits non-zero with a message on stderr
 * when the input is missing or malformed. Built for wasm32-wasi: see scripts/build-demo-module.sh.
 * Only aggregate counts leave the site; no row is ever printed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 4096
#define MAX_FIELD 256

struct count {
    char name[MAX_FIELD];
    long rows;
};

static char in_buffer[1 << 20];
static struct count *counts = NULL;
static size_t count_len = 0, count_cap = 0;

static int fail(const char *message, const char *detail) {
    fprintf(stderr, "count_conditions: %s%s%s\n", message, detail ? ": " : "", detail ? detail : "");
    return 1;
}

/* Strips a trailing "\n" or "\r\n"; returns 0 if the line did not fit the buffer. */
static int chomp(char *line) {
    size_t n = strlen(line);
    if (n == 0 || line[n - 1] != '\n') return 0;
    line[--n] = '\0';
    if (n > 0 && line[n - 1] == '\r') line[--n] = '\0';
    return 1;
}

/* Copies field `index` of a comma-separated line into out; returns the number of fields. */
static int field(const char *line, int index, char *out, size_t out_size) {
    int current = 0;
    const char *start = line;
    out[0] = '\0';
    for (const char *p = line;; p++) {
        if (*p == ',' || *p == '\0') {
            if (current == index) {
                size_t n = (size_t)(p - start);
                if (n >= out_size) n = out_size - 1;
                memcpy(out, start, n);
                out[n] = '\0';
            }
            current++;
            if (*p == '\0') return current;
            start = p + 1;
        }
    }
}

static int add(const char *name) {
    for (size_t i = 0; i < count_len; i++) {
        if (strcmp(counts[i].name, name) == 0) {
            counts[i].rows++;
            return 1;
        }
    }
    if (count_len == count_cap) {
        size_t cap = count_cap ? count_cap * 2 : 16;
        struct count *grown = realloc(counts, cap * sizeof *counts);
        if (!grown) return 0;
        counts = grown;
        count_cap = cap;
    }
    snprintf(counts[count_len].name, MAX_FIELD, "%s", name);
    counts[count_len].rows = 1;
    count_len++;
    return 1;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const struct count *)a)->name, ((const struct count *)b)->name);
}

/* Writes s as a JSON string body (without quotes). */
static void json_string(FILE *out, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
        else if (c < 0x20) fprintf(out, "\\u%04x", c);
        else fputc(c, out);
    }
}

static void report(FILE *out, const char *site, long rows) {
    fputs("{\"site\":\"", out);
    json_string(out, site);
    fprintf(out, "\",\"rows\":%ld,\"counts\":{", rows);
    for (size_t i = 0; i < count_len; i++) {
        fputs(i ? ",\"" : "\"", out);
        json_string(out, counts[i].name);
        fprintf(out, "\":%ld", counts[i].rows);
    }
    fputs("}}\n", out);
}

/* A native build for benchmarks points these elsewhere (scripts/bench-engines.sh). */
#ifndef INPUT_PATH
#define INPUT_PATH "/data/patients.csv"
#endif
#ifndef OUTPUT_PATH
#define OUTPUT_PATH "/outputs/counts.json"
#endif

int main(void) {
    const char *site = getenv("INSITU_LABEL_SITE");
    if (!site || !*site) site = getenv("SITE");
    if (!site || !*site) site = "unknown";

    FILE *in = fopen(INPUT_PATH, "r");
    if (!in) return fail("cannot open " INPUT_PATH, strerror(errno));
    /* wasi-libc's default stdio buffer is small, so a scan would cross into the host once per
     * kilobyte; a JIT runtime spends most of the run there. Reading 1 MiB at a time cuts that
     * ~1000-fold. The buffer must be passed in: wasi-libc (musl) ignores the size given with NULL. */
    if (setvbuf(in, in_buffer, _IOFBF, sizeof in_buffer) != 0) return fail("cannot set up reading " INPUT_PATH, NULL);

    char line[MAX_LINE];
    char value[MAX_FIELD];
    if (!fgets(line, sizeof line, in) || !chomp(line)) return fail(INPUT_PATH " has no header line", NULL);
    int columns = field(line, 0, value, sizeof value);
    int condition = -1;
    for (int i = 0; i < columns; i++) {
        field(line, i, value, sizeof value);
        if (strcmp(value, "condition") == 0) condition = i;
    }
    if (condition < 0) return fail("the header has no \"condition\" column", line);

    long rows = 0, number = 1;
    while (fgets(line, sizeof line, in)) {
        number++;
        if (!chomp(line) && !feof(in)) {
            fprintf(stderr, "count_conditions: line %ld is longer than %d bytes\n", number, MAX_LINE - 2);
            return 1;
        }
        if (line[0] == '\0') continue;
        if (field(line, condition, value, sizeof value) != columns) {
            fprintf(stderr, "count_conditions: line %ld has a different number of fields than the header\n", number);
            return 1;
        }
        if (value[0] == '\0') {
            fprintf(stderr, "count_conditions: line %ld has an empty condition\n", number);
            return 1;
        }
        if (!add(value)) return fail("out of memory", NULL);
        rows++;
    }
    if (ferror(in)) return fail("error reading " INPUT_PATH, strerror(errno));
    fclose(in);

    qsort(counts, count_len, sizeof *counts, by_name);
    report(stdout, site, rows);

    FILE *out = fopen(OUTPUT_PATH, "w");
    if (!out) return fail("cannot create " OUTPUT_PATH, strerror(errno));
    report(out, site, rows);
    if (fclose(out) != 0) return fail("cannot write " OUTPUT_PATH, strerror(errno));
    return 0;
}
