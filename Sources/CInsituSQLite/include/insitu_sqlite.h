#ifndef INSITU_SQLITE_H
#define INSITU_SQLITE_H

#include <stddef.h>

// The handle stays opaque here so this header does not redeclare sqlite3.h beside GRDB's
// SQLite module.
typedef struct sqlite3 sqlite3;

// sqlite3_db_config is variadic, which Swift cannot call: this wrapper takes the one form the
// SQL engine uses (an int setting, no out-parameter).
int insitu_sqlite_db_config_int(sqlite3 *db, int op, int value);

// MARK: The insitu_csv virtual table (csv_vtab.c)

/// A run's CSV tables: each a mapped file whose header the caller has already read.
typedef struct insitu_csv_set insitu_csv_set;

/// Results of the functions below, and the kinds of error a table met.
#define INSITU_CSV_OK 0
/// A field opened with a double quote is never closed (line: where it opens).
#define INSITU_CSV_UNCLOSED_QUOTE 2
/// A closing double quote is followed by `byte` instead of a comma or a line break.
#define INSITU_CSV_AFTER_QUOTE 3
/// The record starting on `line` has `fields` fields, not as many as the header.
#define INSITU_CSV_RAGGED 4
/// Grouping the rows in memory would pass the budget: run the query again with grouping off.
#define INSITU_CSV_GROUPING_TOO_LARGE 5
/// A record read before no longer parses: the file changed while the run read it.
#define INSITU_CSV_CHANGED 6
/// The stop callback asked to stop.
#define INSITU_CSV_STOPPED 7
/// SQLite's allocator refused memory.
#define INSITU_CSV_NOMEM 8

/// The first error a table of the set met; `kind` is INSITU_CSV_OK when there was none.
typedef struct insitu_csv_error {
    int table;
    int kind;
    long long line;
    long long fields;
    unsigned char byte;
} insitu_csv_error;

/// A new, empty set; `unmap` releases each table's mapping when the set is freed. NULL when out of memory.
insitu_csv_set *insitu_csv_set_new(void (*unmap)(void *base, size_t length));
/// Frees the set. Only for a set never passed to insitu_csv_register (which owns it from then on).
void insitu_csv_set_free(void *set);
/// Adds a table: `bytes` (the file), its records from `data_start` (on line `data_line`),
/// `columns` wide; `declaration` is the CREATE TABLE statement naming its columns. `mapping`
/// is released with the set (NULL for none). Returns the table's index, or -1.
int insitu_csv_set_add(insitu_csv_set *set, const unsigned char *bytes, size_t length, void *mapping, size_t mapping_length,
                       size_t data_start, long long data_line, int columns, const char *declaration);
/// `stop` is asked every few thousand records whether to stop (non-zero: stop, SQLITE_INTERRUPT).
void insitu_csv_set_stop(insitu_csv_set *set, int (*stop)(void *context), void *context);
/// Whether a GROUP BY may group in memory, and how many bytes they may take for it.
void insitu_csv_set_grouping(insitu_csv_set *set, int enabled, long long budget);
insitu_csv_error insitu_csv_last_error(const insitu_csv_set *set);
void insitu_csv_clear_error(insitu_csv_set *set);
/// Reads the whole table once unless a scan already did: INSITU_CSV_OK and its record count, or
/// the error (also recorded as the set's last error).
int insitu_csv_validate(insitu_csv_set *set, int table, long long *rows);
/// Whether a statement was compiled against the table (its first scan will then validate it).
int insitu_csv_planned(const insitu_csv_set *set, int table);
/// Registers the module `insitu_csv` on `db`, which owns `set` from then on (also when this fails).
/// A table is `CREATE VIRTUAL TABLE name USING insitu_csv(INDEX)`.
int insitu_csv_register(sqlite3 *db, insitu_csv_set *set);

#endif
