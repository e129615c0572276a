// The `insitu_csv` virtual table: a CSV file mapped into memory, read in place by the query, so a
// run needs no import. Each table is one entry of an `insitu_csv_set` that the Swift side fills
// (after it has read and checked the header) and SQLite owns once the module is registered: the
// set, and the mappings it holds, live until the connection closes, which is after every
// statement that could hold a pointer into them is finalized.
//
// The records and their values follow exactly the rules of `CSVScanner` and `CSVValue` (Swift),
// which the engine's import path still uses; the tests compare the two paths on the same files.
//
// A GROUP BY over one of these tables does not need SQLite's sorter: when SQLite's planner asks
// only that rows with equal keys be adjacent (`sqlite3_vtab_distinct` 1), the table groups the
// rows itself in one pass (a hash of the key values, per group the offsets of its records) and
// returns them group by group, the groups in the order SQLite's sorter would give them and each
// group's records in file order, so the result is the one the sorter gives. The memory this takes comes from SQLite's
// allocator, so it counts against the run's memory limit; past the set's budget the scan stops
// with INSITU_CSV_GROUPING_TOO_LARGE before any row is returned, and the caller runs the query
// again with grouping off (SQLite's sorter, which spills to disk).

#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "insitu_sqlite.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define STOP_CHECK_INTERVAL 4096
#define ROWID_CHECKPOINT 256

// MARK: The set

typedef struct csv_table {
    const unsigned char *bytes;
    size_t length;
    void *mapping;          // munmap'd by the free callback when not NULL
    size_t mapping_length;
    size_t data_start;      // first byte after the header record
    long long data_line;    // line of that byte
    int columns;
    char *declaration;      // CREATE TABLE x(...) for sqlite3_declare_vtab
    int validated;
    int planned;            // a statement compiled against it
    long long rows;
} csv_table;

struct insitu_csv_set {
    csv_table *tables;
    int count;
    int capacity;
    int grouping;
    long long grouping_budget;
    int (*stop)(void *);
    void *stop_context;
    void (*unmap)(void *, size_t);
    insitu_csv_error error;
};

insitu_csv_set *insitu_csv_set_new(void (*unmap)(void *base, size_t length)) {
    insitu_csv_set *set = sqlite3_malloc64(sizeof *set);
    if (!set) return NULL;
    memset(set, 0, sizeof *set);
    set->grouping = 1;
    set->grouping_budget = 1LL << 30;
    set->unmap = unmap;
    set->error.table = -1;
    return set;
}

void insitu_csv_set_free(void *pointer) {
    insitu_csv_set *set = pointer;
    if (!set) return;
    for (int i = 0; i < set->count; i++) {
        if (set->tables[i].mapping && set->unmap) set->unmap(set->tables[i].mapping, set->tables[i].mapping_length);
        sqlite3_free(set->tables[i].declaration);
    }
    sqlite3_free(set->tables);
    sqlite3_free(set);
}

int insitu_csv_set_add(insitu_csv_set *set, const unsigned char *bytes, size_t length, void *mapping, size_t mapping_length,
                       size_t data_start, long long data_line, int columns, const char *declaration) {
    if (columns <= 0 || data_start > length || (length > 0 && !bytes)) return -1;
    if (set->count == set->capacity) {
        int capacity = set->capacity ? set->capacity * 2 : 4;
        csv_table *tables = sqlite3_realloc64(set->tables, (sqlite3_uint64)capacity * sizeof *tables);
        if (!tables) return -1;
        set->tables = tables;
        set->capacity = capacity;
    }
    char *copy = sqlite3_mprintf("%s", declaration);
    if (!copy) return -1;
    csv_table *table = &set->tables[set->count];
    memset(table, 0, sizeof *table);
    table->bytes = bytes;
    table->length = length;
    table->mapping = mapping;
    table->mapping_length = mapping_length;
    table->data_start = data_start;
    table->data_line = data_line;
    table->columns = columns;
    table->declaration = copy;
    return set->count++;
}

void insitu_csv_set_stop(insitu_csv_set *set, int (*stop)(void *context), void *context) {
    set->stop = stop;
    set->stop_context = context;
}

void insitu_csv_set_grouping(insitu_csv_set *set, int enabled, long long budget) {
    set->grouping = enabled;
    set->grouping_budget = budget;
}

insitu_csv_error insitu_csv_last_error(const insitu_csv_set *set) { return set->error; }

void insitu_csv_clear_error(insitu_csv_set *set) {
    memset(&set->error, 0, sizeof set->error);
    set->error.table = -1;
}

static int set_error(insitu_csv_set *set, int table, int kind, long long line, long long fields, unsigned char byte) {
    if (set->error.kind == INSITU_CSV_OK) {
        set->error.table = table;
        set->error.kind = kind;
        set->error.line = line;
        set->error.fields = fields;
        set->error.byte = byte;
    }
    return kind;
}

// MARK: Records (CSVScanner's rules)

typedef struct field {
    const unsigned char *start;  // the bytes between the quotes for a quoted field
    size_t count;
    int quoted;
    int doubled;                 // holds "" to undouble
} field;

typedef struct scanner {
    const unsigned char *bytes;
    size_t end;
    size_t position;
    long long line;
    long long record_line;
    size_t record_start;
    field *fields;   // room for `columns` fields; more are counted, not kept
    int columns;
    long long found; // fields in the last record
    long long error_line;
    unsigned char error_byte;
} scanner;

enum { RECORD = 1, END = 0 };

// The first `,`, LF or CR at or after `p` (`end` when none): where an unquoted field may end.
static inline size_t find_delimiter(const unsigned char *b, size_t p, size_t end) {
#if defined(__SSE2__)
    const __m128i comma = _mm_set1_epi8(','), lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
    while (p + 16 <= end) {
        __m128i chunk = _mm_loadu_si128((const __m128i *)(const void *)(b + p));
        __m128i hits = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(chunk, comma), _mm_cmpeq_epi8(chunk, lf)), _mm_cmpeq_epi8(chunk, cr));
        int mask = _mm_movemask_epi8(hits);
        if (mask) return p + (size_t)__builtin_ctz((unsigned)mask);
        p += 16;
    }
#endif
    while (p < end && b[p] != ',' && b[p] != '\n' && b[p] != '\r') p++;
    return p;
}

static void scanner_start(scanner *s, const csv_table *table, size_t position, long long line) {
    s->bytes = table->bytes;
    s->end = table->length;
    s->position = position;
    s->line = line;
    s->record_line = line;
    s->columns = table->columns;
    s->found = 0;
}

static void keep(scanner *s, const unsigned char *start, size_t count, int quoted, int doubled) {
    if (s->found < s->columns) {
        field *f = &s->fields[s->found];
        f->start = start;
        f->count = count;
        f->quoted = quoted;
        f->doubled = doubled;
    }
    s->found++;
}

// RECORD, END, or an INSITU_CSV_* error (with error_line and error_byte set).
static int scanner_next(scanner *s) {
    const unsigned char *b = s->bytes;
    size_t end = s->end;
    size_t p = s->position;
    s->found = 0;
    while (p < end) {
        if (b[p] == '\n') {
            p++;
            s->line++;
        } else if (b[p] == '\r' && p + 1 < end && b[p + 1] == '\n') {
            p += 2;
            s->line++;
        } else {
            break;
        }
    }
    s->record_start = p;
    if (p >= end) {
        s->position = p;
        return END;
    }
    s->record_line = s->line;
    for (;;) {
        if (p < end && b[p] == '"') {
            long long opening = s->line;
            p++;
            size_t start = p;
            int doubled = 0;
            for (;;) {
                const unsigned char *hit = p < end ? memchr(b + p, '"', end - p) : NULL;
                size_t stop = hit ? (size_t)(hit - b) : end;
                for (const unsigned char *c = b + p; (c = memchr(c, '\n', stop - (size_t)(c - b))) != NULL; c++) s->line++;
                if (!hit) {
                    s->position = end;
                    s->error_line = opening;
                    return INSITU_CSV_UNCLOSED_QUOTE;
                }
                p = stop;
                if (p + 1 < end && b[p + 1] == '"') {
                    doubled = 1;
                    p += 2;
                    continue;
                }
                keep(s, b + start, p - start, 1, doubled);
                p++;
                break;
            }
        } else {
            size_t start = p;
            for (;;) {
                p = find_delimiter(b, p, end);
                // A CR not followed by LF is data.
                if (p < end && b[p] == '\r' && !(p + 1 < end && b[p + 1] == '\n')) {
                    p++;
                    continue;
                }
                break;
            }
            keep(s, b + start, p - start, 0, 0);
        }
        if (p >= end) {
            s->position = p;
            return RECORD;
        }
        unsigned char c = b[p];
        if (c == ',') {
            p++;
        } else if (c == '\n') {
            s->position = p + 1;
            s->line++;
            return RECORD;
        } else if (c == '\r' && p + 1 < end && b[p + 1] == '\n') {
            s->position = p + 2;
            s->line++;
            return RECORD;
        } else {
            s->position = p;
            s->error_line = s->line;
            s->error_byte = c;
            return INSITU_CSV_AFTER_QUOTE;
        }
    }
}

// MARK: Values (CSVValue's rules)

enum { VALUE_NULL, VALUE_INTEGER, VALUE_REAL, VALUE_TEXT };

static int classify(const field *f, sqlite3_int64 *integer, double *real) {
    if (f->quoted) return VALUE_TEXT;
    const unsigned char *b = f->start;
    size_t count = f->count;
    if (count == 0) return VALUE_NULL;
    size_t index = 0;
    int negative = b[0] == '-';
    if (negative) index = 1;
    size_t digits_start = index;
    while (index < count && b[index] >= '0' && b[index] <= '9') index++;
    size_t digits = index - digits_start;
    if (digits == 0) return VALUE_TEXT;
    if (digits > 1 && b[digits_start] == '0') return VALUE_TEXT;
    if (index == count) {
        if (digits > 19) return VALUE_TEXT;
        // Accumulated negatively so INT64_MIN fits.
        sqlite3_int64 value = 0;
        for (size_t i = digits_start; i < count; i++) {
            sqlite3_int64 digit = b[i] - '0';
            if (value < (INT64_MIN + digit) / 10) return VALUE_TEXT;
            value = value * 10 - digit;
        }
        if (negative) {
            *integer = value;
            return VALUE_INTEGER;
        }
        if (value == INT64_MIN) return VALUE_TEXT;
        *integer = -value;
        return VALUE_INTEGER;
    }
    if (b[index] == '.') {
        index++;
        size_t fraction = index;
        while (index < count && b[index] >= '0' && b[index] <= '9') index++;
        if (index == fraction) return VALUE_TEXT;
    }
    if (index < count && (b[index] == 'e' || b[index] == 'E')) {
        index++;
        if (index < count && (b[index] == '+' || b[index] == '-')) index++;
        size_t exponent = index;
        while (index < count && b[index] >= '0' && b[index] <= '9') index++;
        if (index == exponent) return VALUE_TEXT;
    }
    if (index != count || count >= 64) return VALUE_TEXT;
    char buffer[64];
    memcpy(buffer, b, count);
    buffer[count] = 0;
    double value = strtod(buffer, NULL);
    if (!isfinite(value)) return VALUE_TEXT;
    *real = value;
    return VALUE_REAL;
}

// The text of a quoted field that held "", undoubled into `out` (room for f->count bytes).
static size_t undouble(const field *f, unsigned char *out) {
    size_t n = 0;
    for (size_t i = 0; i < f->count; i++) {
        out[n++] = f->start[i];
        if (f->start[i] == '"') i++;
    }
    return n;
}

// MARK: Validation

static int should_stop(insitu_csv_set *set) { return set->stop && set->stop(set->stop_context); }

// Scans the whole table once: every record well-formed and as wide as the header. Counts rows.
static int validate(insitu_csv_set *set, int index) {
    csv_table *table = &set->tables[index];
    if (table->validated) return INSITU_CSV_OK;
    field *fields = sqlite3_malloc64((sqlite3_uint64)table->columns * sizeof *fields);
    if (!fields) return INSITU_CSV_NOMEM;
    scanner s;
    s.fields = fields;
    scanner_start(&s, table, table->data_start, table->data_line);
    long long rows = 0;
    int rc;
    while ((rc = scanner_next(&s)) == RECORD) {
        if (s.found != table->columns) {
            sqlite3_free(fields);
            return set_error(set, index, INSITU_CSV_RAGGED, s.record_line, s.found, 0);
        }
        rows++;
        if ((rows & (STOP_CHECK_INTERVAL - 1)) == 0 && should_stop(set)) {
            sqlite3_free(fields);
            return INSITU_CSV_STOPPED;
        }
    }
    sqlite3_free(fields);
    if (rc != END) return set_error(set, index, rc, s.error_line, 0, s.error_byte);
    table->rows = rows;
    table->validated = 1;
    return INSITU_CSV_OK;
}

int insitu_csv_planned(const insitu_csv_set *set, int index) {
    return index >= 0 && index < set->count && set->tables[index].planned;
}

int insitu_csv_validate(insitu_csv_set *set, int index, long long *rows) {
    if (index < 0 || index >= set->count) return INSITU_CSV_NOMEM;
    int rc = validate(set, index);
    if (rc == INSITU_CSV_OK && rows) *rows = set->tables[index].rows;
    return rc;
}

// MARK: Grouping

typedef struct chunk {
    struct chunk *next;
    uint32_t count;
    uint32_t capacity;
    uint64_t offsets[];  // record starts
} chunk;

typedef struct group {
    uint64_t hash;
    size_t key;          // offset into the key arena
    size_t key_length;
    chunk *first;
    chunk *last;
} group;

typedef struct grouping {
    group *groups;
    size_t count;
    size_t capacity;
    uint32_t *slots;     // open addressing: group index + 1, 0 for empty
    size_t slot_count;
    unsigned char *keys;
    size_t keys_length;
    size_t keys_capacity;
    uint64_t *checkpoints;  // start of every ROWID_CHECKPOINT-th record, for rowid
    size_t checkpoint_count;
    size_t checkpoint_capacity;
    uint32_t *order;        // the groups in the ORDER BY's order
    sqlite3_int64 used;     // bytes taken, against the budget
    sqlite3_int64 budget;
} grouping;

static void grouping_free(grouping *g) {
    for (size_t i = 0; i < g->count; i++) {
        chunk *c = g->groups[i].first;
        while (c) {
            chunk *next = c->next;
            sqlite3_free(c);
            c = next;
        }
    }
    sqlite3_free(g->groups);
    sqlite3_free(g->slots);
    sqlite3_free(g->keys);
    sqlite3_free(g->checkpoints);
    sqlite3_free(g->order);
    memset(g, 0, sizeof *g);
}

// Memory for the grouping, within its budget; NULL past it or when SQLite's allocator refuses.
static void *grouping_realloc(grouping *g, void *old, size_t old_size, size_t size) {
    if (g->used - (sqlite3_int64)old_size + (sqlite3_int64)size > g->budget) return NULL;
    void *p = sqlite3_realloc64(old, size);
    if (p) g->used += (sqlite3_int64)size - (sqlite3_int64)old_size;
    return p;
}

static int grow(grouping *g, void **array, size_t *capacity, size_t element, size_t needed) {
    if (needed <= *capacity) return 1;
    size_t next = *capacity ? *capacity : 16;
    while (next < needed) {
        if (next > SIZE_MAX / 2 / element) return 0;
        next *= 2;
    }
    void *p = grouping_realloc(g, *array, *capacity * element, next * element);
    if (!p) return 0;
    *array = p;
    *capacity = next;
    return 1;
}

static uint64_t hash_bytes(const unsigned char *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ULL;
    h ^= h >> 32;
    return h;
}

// Appends the key of one value: equal keys exactly when SQLite's GROUP BY (IS, BINARY collation)
// calls the values equal. Integers and reals that are equal compare equal, so a real with an
// integral value in range is keyed as that integer.
static int append_key(unsigned char **key, size_t *length, size_t *capacity, const field *f) {
    sqlite3_int64 integer = 0;
    double real = 0;
    int type = classify(f, &integer, &real);
    if (type == VALUE_REAL && real >= -9223372036854775808.0 && real < 9223372036854775808.0 && real == floor(real)) {
        integer = (sqlite3_int64)real;
        type = VALUE_INTEGER;
    }
    size_t needed = 1 + (type == VALUE_TEXT ? 8 + f->count : type == VALUE_NULL ? 0 : 8);
    if (*length + needed > *capacity) {
        size_t next = *capacity ? *capacity : 256;
        while (next < *length + needed) {
            if (next > SIZE_MAX / 2) return 0;
            next *= 2;
        }
        unsigned char *p = sqlite3_realloc64(*key, next);
        if (!p) return 0;
        *key = p;
        *capacity = next;
    }
    unsigned char *out = *key + *length;
    *out++ = (unsigned char)type;
    if (type == VALUE_INTEGER) {
        memcpy(out, &integer, 8);
        out += 8;
    } else if (type == VALUE_REAL) {
        memcpy(out, &real, 8);
        out += 8;
    } else if (type == VALUE_TEXT) {
        unsigned char *text = out + 8;
        uint64_t count = f->doubled ? undouble(f, text) : (memcpy(text, f->start, f->count), f->count);
        memcpy(out, &count, 8);
        out = text + count;
    }
    *length = (size_t)(out - *key);
    return 1;
}

static int add_row(grouping *g, const unsigned char *key, size_t key_length, uint64_t offset) {
    uint64_t hash = hash_bytes(key, key_length);
    if ((g->count + 1) * 2 > g->slot_count) {
        size_t slot_count = g->slot_count ? g->slot_count * 2 : 64;
        if (slot_count > UINT32_MAX) return 0;
        uint32_t *slots = grouping_realloc(g, NULL, 0, slot_count * sizeof *slots);
        if (!slots) return 0;
        memset(slots, 0, slot_count * sizeof *slots);
        for (size_t i = 0; i < g->count; i++) {
            size_t at = (size_t)g->groups[i].hash & (slot_count - 1);
            while (slots[at]) at = (at + 1) & (slot_count - 1);
            slots[at] = (uint32_t)(i + 1);
        }
        if (g->slots) {
            sqlite3_free(g->slots);
            g->used -= (sqlite3_int64)(g->slot_count * sizeof *slots);
        }
        g->slots = slots;
        g->slot_count = slot_count;
    }
    size_t at = (size_t)hash & (g->slot_count - 1);
    group *found = NULL;
    while (g->slots[at]) {
        group *candidate = &g->groups[g->slots[at] - 1];
        if (candidate->hash == hash && candidate->key_length == key_length
            && memcmp(g->keys + candidate->key, key, key_length) == 0) {
            found = candidate;
            break;
        }
        at = (at + 1) & (g->slot_count - 1);
    }
    if (!found) {
        if (!grow(g, (void **)&g->groups, &g->capacity, sizeof *g->groups, g->count + 1)) return 0;
        if (!grow(g, (void **)&g->keys, &g->keys_capacity, 1, g->keys_length + key_length)) return 0;
        memcpy(g->keys + g->keys_length, key, key_length);
        found = &g->groups[g->count];
        found->hash = hash;
        found->key = g->keys_length;
        found->key_length = key_length;
        found->first = found->last = NULL;
        g->keys_length += key_length;
        g->slots[at] = (uint32_t)(++g->count);
    }
    chunk *last = found->last;
    if (!last || last->count == last->capacity) {
        uint32_t capacity = last ? (last->capacity < 65536 ? last->capacity * 2 : 65536) : 4;
        chunk *c = grouping_realloc(g, NULL, 0, sizeof *c + (size_t)capacity * sizeof c->offsets[0]);
        if (!c) return 0;
        c->next = NULL;
        c->count = 0;
        c->capacity = capacity;
        if (last) last->next = c; else found->first = c;
        found->last = c;
        last = c;
    }
    last->offsets[last->count++] = offset;
    return 1;
}

// MARK: Ordering the groups (SQLite's order for BINARY collation: NULL, numbers, text)

typedef struct key_reader {
    const unsigned char *p;
} key_reader;

static int read_component(key_reader *r, sqlite3_int64 *integer, double *real, const unsigned char **text, uint64_t *length) {
    int type = *r->p++;
    if (type == VALUE_INTEGER) {
        memcpy(integer, r->p, 8);
        r->p += 8;
    } else if (type == VALUE_REAL) {
        memcpy(real, r->p, 8);
        r->p += 8;
    } else if (type == VALUE_TEXT) {
        memcpy(length, r->p, 8);
        *text = r->p + 8;
        r->p += 8 + *length;
    }
    return type;
}

// An integer against a real that is not integral or outside the integers' range.
static int compare_integer_real(sqlite3_int64 i, double r) {
    if (r < -9223372036854775808.0) return 1;
    if (r >= 9223372036854775808.0) return -1;
    sqlite3_int64 below = (sqlite3_int64)floor(r);
    return i <= below ? -1 : 1;
}

static int compare_components(key_reader *a, key_reader *b) {
    sqlite3_int64 ia = 0, ib = 0;
    double ra = 0, rb = 0;
    const unsigned char *ta = NULL, *tb = NULL;
    uint64_t la = 0, lb = 0;
    int typeA = read_component(a, &ia, &ra, &ta, &la);
    int typeB = read_component(b, &ib, &rb, &tb, &lb);
    int rankA = typeA == VALUE_NULL ? 0 : typeA == VALUE_TEXT ? 2 : 1;
    int rankB = typeB == VALUE_NULL ? 0 : typeB == VALUE_TEXT ? 2 : 1;
    if (rankA != rankB) return rankA < rankB ? -1 : 1;
    if (rankA == 0) return 0;
    if (rankA == 2) {
        int c = memcmp(ta, tb, la < lb ? la : lb);
        if (c != 0) return c < 0 ? -1 : 1;
        return la == lb ? 0 : la < lb ? -1 : 1;
    }
    if (typeA == VALUE_INTEGER && typeB == VALUE_INTEGER) return ia == ib ? 0 : ia < ib ? -1 : 1;
    if (typeA == VALUE_REAL && typeB == VALUE_REAL) return ra == rb ? 0 : ra < rb ? -1 : 1;
    if (typeA == VALUE_INTEGER) return compare_integer_real(ia, rb);
    return -compare_integer_real(ib, ra);
}

typedef struct sort_context {
    grouping *g;
    const int *descending;
    int key_count;
} sort_context;

static int compare_groups(uint32_t x, uint32_t y, const sort_context *context) {
    key_reader a = {context->g->keys + context->g->groups[x].key};
    key_reader b = {context->g->keys + context->g->groups[y].key};
    for (int i = 0; i < context->key_count; i++) {
        int c = compare_components(&a, &b);
        if (c != 0) return context->descending[i] ? -c : c;
    }
    return x < y ? -1 : x > y;
}

static void merge_sort(uint32_t *items, uint32_t *scratch, size_t count, const sort_context *context) {
    if (count < 2) return;
    size_t half = count / 2;
    merge_sort(items, scratch, half, context);
    merge_sort(items + half, scratch, count - half, context);
    size_t i = 0, j = half, k = 0;
    while (i < half && j < count) scratch[k++] = compare_groups(items[j], items[i], context) < 0 ? items[j++] : items[i++];
    while (i < half) scratch[k++] = items[i++];
    while (j < count) scratch[k++] = items[j++];
    memcpy(items, scratch, count * sizeof *items);
}

// Sorts g->order (stable: equal keys cannot occur, groups are distinct). 0 without the memory.
static int sort_groups(grouping *g, const int *descending, int key_count) {
    uint32_t *scratch = grouping_realloc(g, NULL, 0, g->count * sizeof *scratch);
    if (!scratch) return 0;
    sort_context context = {g, descending, key_count};
    merge_sort(g->order, scratch, g->count, &context);
    sqlite3_free(scratch);
    g->used -= (sqlite3_int64)(g->count * sizeof *scratch);
    return 1;
}

// MARK: The virtual table

typedef struct csv_vtab {
    sqlite3_vtab base;
    insitu_csv_set *set;
    int index;
} csv_vtab;

typedef struct csv_cursor {
    sqlite3_vtab_cursor base;
    scanner s;
    int eof;
    sqlite3_int64 rowid;
    long long since_check;
    // Grouped mode: the groups, and where the cursor is in them.
    int grouped;
    grouping g;
    size_t group;
    chunk *chunk;
    uint32_t in_chunk;
} csv_cursor;

static int csv_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out, char **error) {
    insitu_csv_set *set = aux;
    // argv[3]: the table's index in the set, written by the engine (never by a query: the
    // authorizer refuses CREATE VIRTUAL TABLE while the query compiles).
    if (argc != 4) {
        *error = sqlite3_mprintf("insitu_csv takes one argument");
        return SQLITE_ERROR;
    }
    const char *text = argv[3];
    long index = 0;
    if (!*text) index = -1;
    for (const char *c = text; *c; c++) {
        if (*c < '0' || *c > '9' || index > 1000000) {
            index = -1;
            break;
        }
        index = index * 10 + (*c - '0');
    }
    if (index < 0 || index >= set->count) {
        *error = sqlite3_mprintf("insitu_csv: no table %s", text);
        return SQLITE_ERROR;
    }
    int rc = sqlite3_declare_vtab(db, set->tables[index].declaration);
    if (rc != SQLITE_OK) return rc;
    csv_vtab *vtab = sqlite3_malloc64(sizeof *vtab);
    if (!vtab) return SQLITE_NOMEM;
    memset(vtab, 0, sizeof *vtab);
    vtab->set = set;
    vtab->index = (int)index;
    *out = &vtab->base;
    return SQLITE_OK;
}

static int csv_disconnect(sqlite3_vtab *vtab) {
    sqlite3_free(vtab);
    return SQLITE_OK;
}

static int csv_best_index(sqlite3_vtab *base, sqlite3_index_info *info) {
    csv_vtab *vtab = (csv_vtab *)base;
    csv_table *table = &vtab->set->tables[vtab->index];
    table->planned = 1;
    double rows = (double)(table->length / 32 + 1);
    info->estimatedRows = (sqlite3_int64)rows;
    info->estimatedCost = rows * 4;
    info->idxNum = 0;
    if (!vtab->set->grouping || info->nOrderBy <= 0) return SQLITE_OK;
    // 1: a GROUP BY. Not DISTINCT (2, 3): SQLite's own DISTINCT keeps 1 and 1.0 apart, which
    // grouping here would merge, so it stays SQLite's.
    if (sqlite3_vtab_distinct(info) != 1) return SQLITE_OK;
    for (int i = 0; i < info->nOrderBy; i++) {
        int column = info->aOrderBy[i].iColumn;
        if (column < 0 || column >= table->columns) return SQLITE_OK;
    }
    // SQLite may rely on the groups coming out in the ORDER BY's order (it drops an ORDER BY
    // equal to the GROUP BY), so the groups are returned sorted as its sorter would sort them.
    char *list = sqlite3_mprintf("%d%c", info->aOrderBy[0].iColumn, info->aOrderBy[0].desc ? 'd' : 'a');
    for (int i = 1; list && i < info->nOrderBy; i++) {
        char *longer = sqlite3_mprintf("%s,%d%c", list, info->aOrderBy[i].iColumn, info->aOrderBy[i].desc ? 'd' : 'a');
        sqlite3_free(list);
        list = longer;
    }
    if (!list) return SQLITE_NOMEM;
    info->idxNum = 1;
    info->idxStr = list;
    info->needToFreeIdxStr = 1;
    info->orderByConsumed = 1;
    return SQLITE_OK;
}

static int csv_open(sqlite3_vtab *base, sqlite3_vtab_cursor **out) {
    csv_vtab *vtab = (csv_vtab *)base;
    csv_table *table = &vtab->set->tables[vtab->index];
    csv_cursor *cursor = sqlite3_malloc64(sizeof *cursor);
    if (!cursor) return SQLITE_NOMEM;
    memset(cursor, 0, sizeof *cursor);
    cursor->s.fields = sqlite3_malloc64((sqlite3_uint64)table->columns * sizeof(field));
    if (!cursor->s.fields) {
        sqlite3_free(cursor);
        return SQLITE_NOMEM;
    }
    cursor->eof = 1;
    *out = &cursor->base;
    return SQLITE_OK;
}

static int csv_close(sqlite3_vtab_cursor *base) {
    csv_cursor *cursor = (csv_cursor *)base;
    grouping_free(&cursor->g);
    sqlite3_free(cursor->s.fields);
    sqlite3_free(cursor);
    return SQLITE_OK;
}

static csv_vtab *vtab_of(csv_cursor *cursor) { return (csv_vtab *)cursor->base.pVtab; }

// Turns an INSITU_CSV_* code into SQLite's, recording a message on the table.
static int fail(csv_cursor *cursor, int code) {
    csv_vtab *vtab = vtab_of(cursor);
    switch (code) {
    case INSITU_CSV_STOPPED: return SQLITE_INTERRUPT;
    case INSITU_CSV_NOMEM: return SQLITE_NOMEM;
    default:
        sqlite3_free(vtab->base.zErrMsg);
        vtab->base.zErrMsg = sqlite3_mprintf("insitu_csv: table %d cannot be read (error %d)", vtab->index, code);
        return SQLITE_ERROR;
    }
}

static int check_stop(csv_cursor *cursor) {
    if (++cursor->since_check < STOP_CHECK_INTERVAL) return 0;
    cursor->since_check = 0;
    return should_stop(vtab_of(cursor)->set);
}

// Parses the record at `offset` (grouped mode: already validated, but read again defensively).
static int read_record_at(csv_cursor *cursor, uint64_t offset) {
    csv_vtab *vtab = vtab_of(cursor);
    csv_table *table = &vtab->set->tables[vtab->index];
    scanner_start(&cursor->s, table, (size_t)offset, 0);
    int rc = scanner_next(&cursor->s);
    if (rc != RECORD || cursor->s.found != table->columns) return set_error(vtab->set, vtab->index, INSITU_CSV_CHANGED, 0, 0, 0);
    return INSITU_CSV_OK;
}

static int grouped_position(csv_cursor *cursor) {
    for (;;) {
        if (cursor->chunk && cursor->in_chunk < cursor->chunk->count) {
            return read_record_at(cursor, cursor->chunk->offsets[cursor->in_chunk]);
        }
        if (cursor->chunk && cursor->chunk->next) {
            cursor->chunk = cursor->chunk->next;
            cursor->in_chunk = 0;
            continue;
        }
        if (cursor->chunk) cursor->group++;
        if (cursor->group >= cursor->g.count) {
            cursor->eof = 1;
            return INSITU_CSV_OK;
        }
        cursor->chunk = cursor->g.groups[cursor->g.order[cursor->group]].first;
        cursor->in_chunk = 0;
    }
}

static int build_groups(csv_cursor *cursor, const int *keys, const int *descending, int key_count) {
    csv_vtab *vtab = vtab_of(cursor);
    insitu_csv_set *set = vtab->set;
    csv_table *table = &set->tables[vtab->index];
    grouping *g = &cursor->g;
    g->budget = set->grouping_budget;
    unsigned char *key = NULL;
    size_t key_capacity = 0;
    scanner *s = &cursor->s;
    scanner_start(s, table, table->data_start, table->data_line);
    long long rows = 0;
    int rc;
    while ((rc = scanner_next(s)) == RECORD) {
        if (s->found != table->columns) {
            sqlite3_free(key);
            return set_error(set, vtab->index, INSITU_CSV_RAGGED, s->record_line, s->found, 0);
        }
        if (rows % ROWID_CHECKPOINT == 0) {
            if (!grow(g, (void **)&g->checkpoints, &g->checkpoint_capacity, sizeof *g->checkpoints, g->checkpoint_count + 1)) {
                sqlite3_free(key);
                return set_error(set, vtab->index, INSITU_CSV_GROUPING_TOO_LARGE, 0, 0, 0);
            }
            g->checkpoints[g->checkpoint_count++] = s->record_start;
        }
        size_t key_length = 0;
        int ok = 1;
        for (int i = 0; ok && i < key_count; i++) ok = append_key(&key, &key_length, &key_capacity, &s->fields[keys[i]]);
        if (!ok || !add_row(g, key, key_length, s->record_start)) {
            sqlite3_free(key);
            return set_error(set, vtab->index, INSITU_CSV_GROUPING_TOO_LARGE, 0, 0, 0);
        }
        rows++;
        if (check_stop(cursor)) {
            sqlite3_free(key);
            return INSITU_CSV_STOPPED;
        }
    }
    sqlite3_free(key);
    if (rc != END) return set_error(set, vtab->index, rc, s->error_line, 0, s->error_byte);
    table->rows = rows;
    table->validated = 1;
    if (g->count > 0) {
        g->order = grouping_realloc(g, NULL, 0, g->count * sizeof *g->order);
        if (!g->order) return set_error(set, vtab->index, INSITU_CSV_GROUPING_TOO_LARGE, 0, 0, 0);
        for (size_t i = 0; i < g->count; i++) g->order[i] = (uint32_t)i;
        if (!sort_groups(g, descending, key_count)) return set_error(set, vtab->index, INSITU_CSV_GROUPING_TOO_LARGE, 0, 0, 0);
    }
    return INSITU_CSV_OK;
}

static int csv_filter(sqlite3_vtab_cursor *base, int idx_num, const char *idx_str, int argc, sqlite3_value **argv) {
    (void)argc;
    (void)argv;
    csv_cursor *cursor = (csv_cursor *)base;
    csv_vtab *vtab = vtab_of(cursor);
    csv_table *table = &vtab->set->tables[vtab->index];
    grouping_free(&cursor->g);
    cursor->grouped = 0;
    cursor->eof = 0;
    cursor->rowid = 0;
    if (idx_num == 1 && idx_str) {
        int keys[64];
        int descending[64];
        int key_count = 0;
        const char *c = idx_str;
        while (*c && key_count < 64) {
            long column = 0;
            const char *digits = c;
            while (*c >= '0' && *c <= '9' && column <= table->columns) column = column * 10 + (*c++ - '0');
            if (c == digits || column >= table->columns || (*c != 'a' && *c != 'd')) return fail(cursor, INSITU_CSV_CHANGED);
            descending[key_count] = *c++ == 'd';
            keys[key_count++] = (int)column;
            if (*c == ',') c++;
        }
        if (*c) {
            // More key columns than kept here: let SQLite group (never reached: GROUP BY has at
            // most 64 terms per SQLite's limits, and this keeps up to 64).
            return fail(cursor, INSITU_CSV_CHANGED);
        }
        int rc = build_groups(cursor, keys, descending, key_count);
        if (rc != INSITU_CSV_OK) {
            grouping_free(&cursor->g);
            cursor->eof = 1;
            return fail(cursor, rc);
        }
        cursor->grouped = 1;
        cursor->group = 0;
        cursor->chunk = NULL;
        rc = grouped_position(cursor);
        return rc == INSITU_CSV_OK ? SQLITE_OK : fail(cursor, rc);
    }
    int rc = validate(vtab->set, vtab->index);
    if (rc != INSITU_CSV_OK) {
        cursor->eof = 1;
        return fail(cursor, rc);
    }
    scanner_start(&cursor->s, table, table->data_start, table->data_line);
    rc = scanner_next(&cursor->s);
    if (rc == END) {
        cursor->eof = 1;
        return SQLITE_OK;
    }
    if (rc != RECORD || cursor->s.found != table->columns) {
        cursor->eof = 1;
        return fail(cursor, set_error(vtab->set, vtab->index, INSITU_CSV_CHANGED, 0, 0, 0));
    }
    cursor->rowid = 1;
    return SQLITE_OK;
}

static int csv_next(sqlite3_vtab_cursor *base) {
    csv_cursor *cursor = (csv_cursor *)base;
    csv_vtab *vtab = vtab_of(cursor);
    if (check_stop(cursor)) return SQLITE_INTERRUPT;
    if (cursor->grouped) {
        cursor->in_chunk++;
        int rc = grouped_position(cursor);
        return rc == INSITU_CSV_OK ? SQLITE_OK : fail(cursor, rc);
    }
    int rc = scanner_next(&cursor->s);
    if (rc == END) {
        cursor->eof = 1;
        return SQLITE_OK;
    }
    if (rc != RECORD || cursor->s.found != vtab->set->tables[vtab->index].columns) {
        cursor->eof = 1;
        return fail(cursor, set_error(vtab->set, vtab->index, INSITU_CSV_CHANGED, 0, 0, 0));
    }
    cursor->rowid++;
    return SQLITE_OK;
}

static int csv_eof(sqlite3_vtab_cursor *base) { return ((csv_cursor *)base)->eof; }

static int csv_column(sqlite3_vtab_cursor *base, sqlite3_context *context, int column) {
    csv_cursor *cursor = (csv_cursor *)base;
    if (column < 0 || column >= cursor->s.columns) {
        sqlite3_result_null(context);
        return SQLITE_OK;
    }
    const field *f = &cursor->s.fields[column];
    sqlite3_int64 integer;
    double real;
    switch (classify(f, &integer, &real)) {
    case VALUE_NULL: sqlite3_result_null(context); break;
    case VALUE_INTEGER: sqlite3_result_int64(context, integer); break;
    case VALUE_REAL: sqlite3_result_double(context, real); break;
    default:
        if (f->count == 0) {
            sqlite3_result_text(context, "", 0, SQLITE_STATIC);
        } else if (f->doubled) {
            unsigned char *text = sqlite3_malloc64(f->count);
            if (!text) {
                sqlite3_result_error_nomem(context);
                break;
            }
            size_t n = undouble(f, text);
            sqlite3_result_text64(context, (const char *)text, n, sqlite3_free, SQLITE_UTF8);
        } else {
            // The mapping outlives every statement of the connection (see the top of this file).
            sqlite3_result_text64(context, (const char *)f->start, f->count, SQLITE_STATIC, SQLITE_UTF8);
        }
    }
    return SQLITE_OK;
}

// The record's number in the file (1-based), as the import gave it. Grouped mode finds it from
// the nearest checkpoint before the record: a cost only queries that read rowid pay.
static int csv_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *out) {
    csv_cursor *cursor = (csv_cursor *)base;
    if (!cursor->grouped) {
        *out = cursor->rowid;
        return SQLITE_OK;
    }
    uint64_t target = cursor->chunk->offsets[cursor->in_chunk];
    grouping *g = &cursor->g;
    size_t low = 0, high = g->checkpoint_count;
    while (high - low > 1) {
        size_t middle = low + (high - low) / 2;
        if (g->checkpoints[middle] <= target) low = middle; else high = middle;
    }
    csv_vtab *vtab = vtab_of(cursor);
    csv_table *table = &vtab->set->tables[vtab->index];
    field *fields = sqlite3_malloc64((sqlite3_uint64)table->columns * sizeof *fields);
    if (!fields) return SQLITE_NOMEM;
    scanner s;
    s.fields = fields;
    scanner_start(&s, table, (size_t)g->checkpoints[low], 0);
    sqlite3_int64 rowid = (sqlite3_int64)low * ROWID_CHECKPOINT;
    int rc;
    while ((rc = scanner_next(&s)) == RECORD) {
        rowid++;
        if (s.record_start >= target) break;
    }
    sqlite3_free(fields);
    if (rc != RECORD || s.record_start != target) return fail(cursor, set_error(vtab->set, vtab->index, INSITU_CSV_CHANGED, 0, 0, 0));
    // The scan above moved nothing the cursor uses: its own scanner still holds the record.
    *out = rowid;
    return SQLITE_OK;
}

// Never reached: the authorizer refuses every write while a query compiles. It exists so that
// SQLite consults the authorizer for a write at all (without it SQLite refuses the statement
// itself, in words that do not say what the engine allows), and refuses if it ever were.
static int csv_update(sqlite3_vtab *base, int argc, sqlite3_value **argv, sqlite3_int64 *rowid) {
    (void)argc;
    (void)argv;
    (void)rowid;
    sqlite3_free(base->zErrMsg);
    base->zErrMsg = sqlite3_mprintf("CSV inputs are read-only");
    return SQLITE_READONLY;
}

static sqlite3_module csv_module = {
    .iVersion = 0,
    .xCreate = csv_connect,
    .xConnect = csv_connect,
    .xBestIndex = csv_best_index,
    .xDisconnect = csv_disconnect,
    .xDestroy = csv_disconnect,
    .xOpen = csv_open,
    .xClose = csv_close,
    .xFilter = csv_filter,
    .xNext = csv_next,
    .xEof = csv_eof,
    .xColumn = csv_column,
    .xRowid = csv_rowid,
    .xUpdate = csv_update,
};

int insitu_csv_register(sqlite3 *db, insitu_csv_set *set) {
    return sqlite3_create_module_v2(db, "insitu_csv", &csv_module, set, insitu_csv_set_free);
}
